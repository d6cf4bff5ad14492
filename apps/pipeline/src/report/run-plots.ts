import type { TopLevelSpec } from 'vega-lite';
import type { PanelPoint } from './metric-panels';

// Vega-lite specs of report.html. Legends sit below the plot with full labels (labelLimit 0), so a
// long metric name neither overflows the page nor gets cut into an ambiguous prefix.
const base = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', background: 'white' } as const;
const legend = { orient: 'bottom', direction: 'vertical', labelLimit: 0, title: null } as const;

/**
 * One metric panel: a column per stage with its own step axis (stages have unrelated step counts),
 * lines plus a point per recorded step, so a series with a single value is still drawn.
 */
export function stagePanelSpec(title: string, yTitle: string, points: PanelPoint[], domain?: [number, number] | 'zero'): TopLevelSpec {
  const y = { field: 'value', type: 'quantitative', title: yTitle, scale: domain === 'zero' ? { zero: true } : domain ? { domain } : { zero: false } } as const;
  const color = { field: 'series', type: 'nominal', legend } as const;
  return {
    ...base,
    title,
    data: { values: points },
    facet: { column: { field: 'stage', type: 'nominal', title: null, sort: null, header: { labelFontSize: 12, labelFontWeight: 'bold' } } },
    spec: {
      width: 240,
      height: 160,
      layer: [
        { mark: { type: 'line' }, encoding: { x: { field: 'step', type: 'quantitative', title: 'step' }, y, color } },
        { mark: { type: 'point', filled: true, size: points.length > 200 ? 8 : 24 }, encoding: { x: { field: 'step', type: 'quantitative' }, y, color } },
      ],
    },
    resolve: { scale: { x: 'independent' } },
  };
}

/** A point per (x, checkpoint) with a 95% interval; `dx` separates checkpoints that coincide. */
export interface IntervalPoint {
  temperature: number;
  /** temperature + a small per-series offset, so identical series stay visible side by side. */
  x: number;
  value: number;
  lo: number;
  hi: number;
  series: string;
}

/**
 * Accuracy against evaluation temperature with 95% intervals: one line + error bars per series,
 * series told apart by color, dash and point shape (identical boundaries otherwise hide each other).
 */
export function accuracyIntervalsSpec(title: string | { text: string; subtitle: string }, rows: IntervalPoint[], yTitle = 'accuracy'): TopLevelSpec {
  const x = { field: 'x', type: 'quantitative', title: 'evaluation temperature (0 = greedy)' } as const;
  const color = { field: 'series', type: 'nominal', sort: null, legend } as const;
  return {
    ...base,
    title,
    width: 460,
    height: 240,
    data: { values: rows },
    layer: [
      { mark: { type: 'errorbar', ticks: true }, encoding: { x, y: { field: 'lo', type: 'quantitative', title: yTitle, scale: { domain: [0, 1] } }, y2: { field: 'hi' }, color } },
      { mark: { type: 'line' }, encoding: { x, y: { field: 'value', type: 'quantitative' }, color, strokeDash: { field: 'series', type: 'nominal', sort: null, legend } } },
      { mark: { type: 'point', filled: true, size: 50 }, encoding: { x, y: { field: 'value', type: 'quantitative' }, color, shape: { field: 'series', type: 'nominal', sort: null, legend }, tooltip: [{ field: 'series' }, { field: 'temperature' }, { field: 'value' }, { field: 'lo' }, { field: 'hi' }] } },
    ],
  };
}

/** Reliability diagram: accuracy against mean confidence per bin (point area = count), and y = x. */
export function reliabilitySpec(title: string | { text: string; subtitle: string }, bins: { confidence: number; accuracy: number; count: number; series: string }[]): TopLevelSpec {
  return {
    ...base,
    title,
    width: 300,
    height: 300,
    layer: [
      { data: { values: [{ v: 0 }, { v: 1 }] }, mark: { type: 'line', color: '#999', strokeDash: [4, 4] }, encoding: { x: { field: 'v', type: 'quantitative', title: 'mean confidence in bin', scale: { domain: [0, 1] } }, y: { field: 'v', type: 'quantitative', title: 'accuracy in bin', scale: { domain: [0, 1] } } } },
      { data: { values: bins }, mark: { type: 'line' }, encoding: { x: { field: 'confidence', type: 'quantitative' }, y: { field: 'accuracy', type: 'quantitative' }, color: { field: 'series', type: 'nominal', sort: null, legend } } },
      {
        data: { values: bins },
        mark: { type: 'point', filled: true, opacity: 0.8 },
        encoding: {
          x: { field: 'confidence', type: 'quantitative' },
          y: { field: 'accuracy', type: 'quantitative' },
          color: { field: 'series', type: 'nominal', sort: null, legend },
          size: { field: 'count', type: 'quantitative', title: 'answers in bin', scale: { range: [15, 400] }, legend: { orient: 'bottom' } },
          tooltip: [{ field: 'series' }, { field: 'confidence' }, { field: 'accuracy' }, { field: 'count' }],
        },
      },
    ],
  };
}

/** Overlaid logit histograms (density), one step line per checkpoint, dashed differently. */
export function logitHistogramSpec(rows: { logit: number; density: number; checkpoint: string }[], scope: string): TopLevelSpec {
  return {
    ...base,
    title: { text: 'Logit distribution per checkpoint', subtitle: scope.length > 110 ? [scope.slice(0, scope.lastIndexOf(',', 110) + 1), scope.slice(scope.lastIndexOf(',', 110) + 2)] : scope },
    width: 460,
    height: 220,
    data: { values: rows },
    mark: { type: 'line', interpolate: 'step' },
    encoding: {
      x: { field: 'logit', type: 'quantitative', title: 'logit' },
      y: { field: 'density', type: 'quantitative', title: 'density' },
      color: { field: 'checkpoint', type: 'nominal', sort: null, legend },
      strokeDash: { field: 'checkpoint', type: 'nominal', sort: null, legend },
    },
  };
}
