import { escapeHtml, figure, htmlTable } from './html';
import { accuracyInterval } from './intervals';
import { renderSvg } from './plots';
import { accuracyIntervalsSpec, logitHistogramSpec, type IntervalPoint } from './run-plots';
import { boundaryTable, type BoundaryRow, type RunSummary } from './summary';

/** Groups of boundary labels whose measurements are identical (e.g. after grpo and after eval). */
export function identicalBoundaries(rows: readonly BoundaryRow[]): string[][] {
  const groups = new Map<string, string[]>();
  for (const r of rows) {
    if (!r.record) continue;
    const key = JSON.stringify([r.record.accuracyByTemperature, r.record.logitStats, r.record.calibration, r.record.histogram]);
    groups.set(key, [...(groups.get(key) ?? []), r.label]);
  }
  return [...groups.values()].filter((g) => g.length > 1);
}

/**
 * Probe accuracy by temperature per boundary with 95% Wilson intervals over the probe prompts
 * (samples / k, k = 1 at T = 0). Boundaries are offset by 0.012 in x so equal ones stay visible.
 */
export function boundaryIntervalPoints(rows: readonly BoundaryRow[], samplesPerPrompt: number): IntervalPoint[] {
  const withData = rows.filter((r) => r.record);
  return withData.flatMap((r, i) =>
    r.record!.accuracyByTemperature.map((a) => {
      const prompts = Math.max(1, Math.round(a.samples / (a.temperature === 0 ? 1 : samplesPerPrompt)));
      const ci = accuracyInterval(a.accuracy, prompts);
      return { temperature: a.temperature, x: a.temperature + (i - (withData.length - 1) / 2) * 0.012, value: a.accuracy, lo: ci.lo, hi: ci.hi, series: r.label };
    }),
  );
}

/** Density histogram rows; a closing point draws the last bin. */
function histogramRows(rows: readonly BoundaryRow[]): { logit: number; density: number; checkpoint: string }[] {
  return rows.flatMap((r) => {
    const h = r.record?.histogram;
    if (!h) return [];
    const total = h.counts.reduce((a, b) => a + b, 0) || 1;
    const pts = h.counts.map((c, i) => ({ logit: h.edges[i]!, density: c / total / (h.edges[i + 1]! - h.edges[i]!), checkpoint: r.label }));
    return [...pts, { logit: h.edges[h.edges.length - 1]!, density: pts[pts.length - 1]?.density ?? 0, checkpoint: r.label }];
  });
}

/** "Stage boundaries": the table, which boundaries coincide, accuracy by temperature, logit histograms. */
export async function boundarySection(summary: RunSummary, rows: readonly BoundaryRow[], samplesPerPrompt: number): Promise<string> {
  const t = boundaryTable(summary);
  const same = identicalBoundaries(rows).map((g) => `<p class="note">Identical measurements at ${escapeHtml(g.join(', '))} (the stages between them did not change the model); their curves are drawn side by side, offset by 0.012 in temperature.</p>`);
  const parts = [
    `<p class="note">Probe prompts (the task's probe split), measured at every stage boundary. Logit statistics scope: ${escapeHtml(summary.scope ?? 'n/a')}. Skewness is Fisher-Pearson g1 (m3 / m2^1.5).</p>`,
    htmlTable(t.header, t.rows),
    ...same,
    ...rows.filter((r) => r.problem).map((r) => `<p class="note">${escapeHtml(r.label)}: ${escapeHtml(r.problem!)}</p>`),
  ];
  const pts = boundaryIntervalPoints(rows, samplesPerPrompt);
  if (pts.length > 0) {
    const prompts = Math.round(rows.find((r) => r.record)!.record!.accuracyByTemperature.find((a) => a.temperature === 0)?.samples ?? NaN);
    const sub = `probe set${Number.isFinite(prompts) ? ` (${prompts} prompts)` : ''}; error bars: 95% Wilson interval over prompts`;
    parts.push(figure(await renderSvg(accuracyIntervalsSpec({ text: 'Probe accuracy vs temperature at each boundary', subtitle: sub }, pts)), 'plot-accuracy-temperature'));
  }
  const hist = histogramRows(rows);
  if (hist.length > 0) parts.push(figure(await renderSvg(logitHistogramSpec(hist, summary.scope ?? '')), 'plot-logit-histogram'));
  return parts.join('\n');
}
