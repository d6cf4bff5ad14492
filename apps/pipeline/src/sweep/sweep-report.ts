import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../atomic-write';
import { formatNumber } from '../progress';
import { escapeHtml, figure, htmlPage, htmlTable } from '../report/html';
import { loadRun } from '../report/load-run';
import { meanStdSpec, renderSvg } from '../report/plots';
import { markdownTable, summarizeRun } from '../report/summary';
import { aggregateCells, cellMetrics, pairedComparisons, type GroupStats } from './aggregate';
import { readCellResult, resultMetrics } from './queue/results';
import { cellDir, isCellComplete, SWEEP_FILE, type SweepRecord } from './run-sweep';

export function isSweepDir(dir: string): boolean {
  return existsSync(join(dir, SWEEP_FILE));
}

export interface SweepSummary {
  name: string;
  cells: { id: string; group: string; seed: number; complete: boolean; metrics: Record<string, number> }[];
  groups: GroupStats[];
  /** Metric columns shown in the tables (headline diagnostics first). */
  columns: string[];
}

export function summarizeSweep(dir: string): SweepSummary {
  const record = JSON.parse(readFileSync(join(dir, SWEEP_FILE), 'utf8')) as SweepRecord;
  const cells = record.cells.map((cell) => {
    // A queued sweep's cells ran elsewhere: their metrics came back through the queue.
    const queued = readCellResult(dir, cell.id);
    if (queued) return { cell, complete: true, metrics: resultMetrics(queued) };
    const cdir = cellDir(dir, cell.id);
    const complete = isCellComplete(cdir);
    return { cell, complete, metrics: complete ? cellMetrics(summarizeRun(loadRun(cdir))) : {} };
  });
  const done = cells.filter((c) => c.complete);
  const all = [...new Set(done.flatMap((c) => Object.keys(c.metrics)))];
  const headline = all.filter((k) => k.startsWith('acc@T=') || ['skewness', 'entropy', 'ece', 'brier'].includes(k));
  return {
    name: record.name,
    cells: cells.map((c) => ({ id: c.cell.id, group: c.cell.group, seed: c.cell.seed, complete: c.complete, metrics: c.metrics })),
    groups: aggregateCells(done),
    columns: [...headline, ...all.filter((k) => !headline.includes(k))],
  };
}

const pm = (s: { mean: number; std: number } | undefined): string => (s ? `${formatNumber(s.mean)} ± ${formatNumber(s.std)}` : '-');

export function groupTable(s: SweepSummary): { header: string[]; rows: string[][] } {
  return {
    header: ['group', 'seeds', ...s.columns],
    rows: s.groups.map((g) => [g.group, String(g.seeds.length), ...s.columns.map((c) => pm(g.metrics[c]))]),
  };
}

export function seedTable(s: SweepSummary): { header: string[]; rows: string[][] } {
  return {
    header: ['cell', 'seed', 'status', ...s.columns],
    rows: s.cells.map((c) => [c.group, String(c.seed), c.complete ? 'done' : 'incomplete', ...s.columns.map((k) => (c.metrics[k] !== undefined ? formatNumber(c.metrics[k]!) : '-'))]),
  };
}

/** `eval/eval/accuracy@t0` (the eval stage's summary) -> { stage, temperature }. */
export function heldOutColumn(key: string): { stage: string; temperature: string } | undefined {
  const m = /^(.+)\/eval\/accuracy@t([\d.]+)$/.exec(key);
  return m ? { stage: m[1]!, temperature: m[2]! } : undefined;
}

/** What a column measures, in words (plots and the headline table). */
export function columnLabel(key: string): string {
  const h = heldOutColumn(key);
  if (h) return `held-out acc@T=${h.temperature} (${h.stage} stage)`;
  if (key.startsWith('acc@T=')) return `probe ${key} (final boundary)`;
  return key;
}

/** Mean ± std per group with per-seed dots, one plot per column. */
async function spreadPlots(s: SweepSummary, columns: string[], note: string): Promise<string[]> {
  const plots: string[] = [];
  for (const metric of columns) {
    const means = s.groups.filter((x) => x.metrics[metric]).map((x) => ({ group: x.group, mean: x.metrics[metric]!.mean, lo: x.metrics[metric]!.mean - x.metrics[metric]!.std, hi: x.metrics[metric]!.mean + x.metrics[metric]!.std }));
    const seeds = s.cells.filter((c) => c.metrics[metric] !== undefined).map((c) => ({ group: c.group, value: c.metrics[metric]!, seed: c.seed }));
    const id = `plot-sweep-${metric.replace(/[^A-Za-z0-9._-]/g, '_')}`;
    if (means.length > 0) plots.push(figure(await renderSvg(meanStdSpec({ text: `${columnLabel(metric)}: mean ± std across seeds`, subtitle: note }, means, seeds)), id));
  }
  return plots;
}

/** The paired comparison table and one sentence on whether any group differs beyond seed noise. */
export function pairedSection(s: SweepSummary, metric: string): string {
  const pairs = pairedComparisons(s.cells.filter((c) => c.complete), metric);
  if (pairs.length === 0) return '<p class="note">No two groups share a seed: no paired comparison.</p>';
  const f = (x: number): string => (Number.isFinite(x) ? (x >= 0 ? '+' : '') + x.toFixed(4) : 'n/a');
  const noisy = pairs.filter((p) => p.withinNoise).length;
  const oneSeed = pairs.filter((p) => p.n < 2).length;
  const differs = pairs.filter((p) => p.n >= 2 && !p.withinNoise);
  const largest = pairs.reduce((a, b) => (Math.abs(b.meanDiff) > Math.abs(a.meanDiff) ? b : a));
  const verdict =
    differs.length === 0 && oneSeed === 0
      ? `All ${pairs.length} pairwise differences in ${columnLabel(metric)} are within seed noise (95% paired t interval over shared seeds contains 0); the largest is ${f(largest.meanDiff)} (${largest.group} - ${largest.baseline}).`
      : `${differs.length} of ${pairs.length} pairwise differences in ${columnLabel(metric)} exceed seed noise (95% paired t interval excludes 0): ${differs.map((p) => `${p.group} - ${p.baseline} = ${f(p.meanDiff)}`).join('; ') || 'none'}; ${noisy} within noise${oneSeed ? `; ${oneSeed} with one shared seed (no noise estimate)` : ''}.`;
  return [
    `<p><b>${escapeHtml(verdict)}</b></p>`,
    '<p class="note">Per-seed differences (same seed = same sampled prompts and draws in both groups), uncorrected for multiple comparisons.</p>',
    htmlTable(['group', 'minus', 'shared seeds', 'mean difference', '95% CI', 'within seed noise'], pairs.map((p) => [p.group, p.baseline, String(p.n), f(p.meanDiff), p.n > 1 ? `[${f(p.lo)}, ${f(p.hi)}]` : 'n/a', p.n < 2 ? 'one seed' : p.withinNoise ? 'yes' : 'no'])),
  ].join('\n');
}

/** Write sweep-summary.json, summary.md and report.html (held-out eval first, paired comparison). */
export async function writeSweepReport(dir: string): Promise<{ html: string; markdown: string; json: string }> {
  const s = summarizeSweep(dir);
  const g = groupTable(s);
  const p = seedTable(s);
  const heldOut = s.columns.filter((c) => heldOutColumn(c));
  const probe = s.columns.filter((c) => c.startsWith('acc@T='));
  const headlineCols = [...heldOut, ...probe, ...['skewness', 'entropy', 'ece'].filter((c) => s.columns.includes(c))];
  const headline = { header: ['group', 'seeds', ...headlineCols.map(columnLabel)], rows: s.groups.map((x) => [x.group, String(x.seeds.length), ...headlineCols.map((c) => pm(x.metrics[c]))]) };
  const plotted = heldOut.length > 0 ? heldOut : probe;
  const note = heldOut.length > 0 ? 'held-out eval stage (its split and limit); dots = seeds' : 'no eval stage: probe prompts only (coarse: steps of 1/probeSize); dots = seeds';
  const plots = await spreadPlots(s, plotted, note);
  const compareOn = plotted[0];
  const sections = [
    { heading: 'Held-out evaluation: mean ± std across seeds', body: `<p class="note">std is the sample std (n-1) across seeds.</p>${htmlTable(headline.header, headline.rows)}${plots.join('\n') || '<p class="note">no complete cells</p>'}` },
    ...(compareOn ? [{ heading: 'Are the groups different? Paired comparison across seeds', body: pairedSection(s, compareOn) }] : []),
    { heading: 'All metrics', body: `<details><summary>${s.columns.length} columns: final-boundary diagnostics and every stage summary</summary>${htmlTable(g.header, g.rows)}</details>` },
    { heading: 'Per seed', body: htmlTable(p.header, p.rows) + `<p class="note">Each cell's own report: ${escapeHtml(join(dir, 'cells', '<id>', 'report.html'))}</p>` },
  ];
  const files = { html: join(dir, 'report.html'), markdown: join(dir, 'summary.md'), json: join(dir, 'sweep-summary.json') };
  writeFileAtomicSync(files.html, htmlPage(`emrl sweep ${s.name}`, sections));
  writeFileAtomicSync(files.markdown, [`# sweep ${s.name}`, '', '## Mean ± std across seeds', '', markdownTable(g.header, g.rows), '', '## Per seed', '', markdownTable(p.header, p.rows), ''].join('\n'));
  writeFileAtomicSync(files.json, JSON.stringify(s, null, 2) + '\n');
  return files;
}
