import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';

/** Render a vega-lite spec to an SVG string in node (no browser, no canvas). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const base = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', width: 520, height: 220, background: 'white' } as const;

/** y over global step, one line per series (e.g. "grpo loss"). */
export function lineOverStepsSpec(title: string, rows: { step: number; value: number; series: string }[], yTitle: string): TopLevelSpec {
  return {
    ...base,
    title,
    data: { values: rows },
    mark: { type: 'line', point: rows.length < 60 },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'pipeline step' },
      y: { field: 'value', type: 'quantitative', title: yTitle, scale: { zero: false } },
      color: { field: 'series', type: 'nominal', title: null },
    },
  };
}

/** Accuracy against evaluation temperature, one line per checkpoint / boundary. */
export function accuracyByTemperatureSpec(rows: { temperature: number; accuracy: number; checkpoint: string }[]): TopLevelSpec {
  return {
    ...base,
    title: 'Accuracy vs evaluation temperature',
    data: { values: rows },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'temperature', type: 'quantitative', title: 'temperature (0 = greedy)' },
      y: { field: 'accuracy', type: 'quantitative', title: 'accuracy', scale: { domain: [0, 1] } },
      color: { field: 'checkpoint', type: 'nominal', title: 'checkpoint', sort: null },
    },
  };
}

/** Overlaid logit histograms (density per unit logit), one step line per checkpoint. */
export function logitHistogramSpec(rows: { logit: number; density: number; checkpoint: string }[], scope: string): TopLevelSpec {
  return {
    ...base,
    title: { text: 'Logit distribution per checkpoint', subtitle: scope },
    data: { values: rows },
    mark: { type: 'line', interpolate: 'step' },
    encoding: {
      x: { field: 'logit', type: 'quantitative', title: 'logit' },
      y: { field: 'density', type: 'quantitative', title: 'density' },
      color: { field: 'checkpoint', type: 'nominal', title: 'checkpoint', sort: null },
    },
  };
}

/** Mean with +-std error bars per group (sweeps), seeds as dots. */
export function meanStdSpec(
  title: string,
  means: { group: string; mean: number; lo: number; hi: number }[],
  seeds: { group: string; value: number; seed: number }[],
): TopLevelSpec {
  return {
    ...base,
    title,
    layer: [
      { data: { values: means }, mark: { type: 'errorbar', ticks: true }, encoding: { x: { field: 'group', type: 'nominal', title: null, sort: null }, y: { field: 'lo', type: 'quantitative', title: 'value', scale: { zero: false } }, y2: { field: 'hi' } } },
      { data: { values: means }, mark: { type: 'point', filled: true, size: 80 }, encoding: { x: { field: 'group', type: 'nominal', sort: null }, y: { field: 'mean', type: 'quantitative' } } },
      { data: { values: seeds }, mark: { type: 'tick', opacity: 0.6, color: '#888' }, encoding: { x: { field: 'group', type: 'nominal', sort: null }, y: { field: 'value', type: 'quantitative' } } },
    ],
  };
}
