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

/** Mean with +-std error bars per group (sweeps), seeds as dots; group labels never cut. */
export function meanStdSpec(
  title: string | { text: string; subtitle: string },
  means: { group: string; mean: number; lo: number; hi: number }[],
  seeds: { group: string; value: number; seed: number }[],
): TopLevelSpec {
  const x = { field: 'group', type: 'nominal', title: null, sort: null, axis: { labelLimit: 0, labelAngle: -30 } } as const;
  return {
    ...base,
    title,
    layer: [
      { data: { values: means }, mark: { type: 'errorbar', ticks: true }, encoding: { x, y: { field: 'lo', type: 'quantitative', title: 'value', scale: { zero: false } }, y2: { field: 'hi' } } },
      { data: { values: means }, mark: { type: 'point', filled: true, size: 80 }, encoding: { x, y: { field: 'mean', type: 'quantitative' } } },
      { data: { values: seeds }, mark: { type: 'point', opacity: 0.7, color: '#888', size: 30 }, encoding: { x, y: { field: 'value', type: 'quantitative' }, tooltip: [{ field: 'group' }, { field: 'seed' }, { field: 'value' }] } },
    ],
  };
}
