import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../atomic-write';
import { formatNumber } from '../progress';
import { escapeHtml, figure, htmlPage, htmlTable } from '../report/html';
import { loadRun } from '../report/load-run';
import { meanStdSpec, renderSvg } from '../report/plots';
import { markdownTable, summarizeRun } from '../report/summary';
import { aggregateCells, cellMetrics, type GroupStats } from './aggregate';
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

/** Write sweep-summary.json, summary.md and report.html (mean ± std per group, per-seed spread). */
export async function writeSweepReport(dir: string): Promise<{ html: string; markdown: string; json: string }> {
  const s = summarizeSweep(dir);
  const g = groupTable(s);
  const p = seedTable(s);
  const plots: string[] = [];
  for (const metric of s.columns.filter((c) => c.startsWith('acc@T=') || c === 'skewness' || c === 'entropy' || c === 'ece')) {
    const means = s.groups.filter((x) => x.metrics[metric]).map((x) => ({ group: x.group, mean: x.metrics[metric]!.mean, lo: x.metrics[metric]!.mean - x.metrics[metric]!.std, hi: x.metrics[metric]!.mean + x.metrics[metric]!.std }));
    const seeds = s.cells.filter((c) => c.metrics[metric] !== undefined).map((c) => ({ group: c.group, value: c.metrics[metric]!, seed: c.seed }));
    if (means.length > 0) plots.push(figure(await renderSvg(meanStdSpec(`${metric} (final boundary): mean ± std across seeds`, means, seeds)), `plot-sweep-${metric}`));
  }
  const files = { html: join(dir, 'report.html'), markdown: join(dir, 'summary.md'), json: join(dir, 'sweep-summary.json') };
  writeFileAtomicSync(
    files.html,
    htmlPage(`emrl sweep ${s.name}`, [
      { heading: 'Mean ± std across seeds', body: `<p class="note">Final-boundary diagnostics and stage summaries; std is the sample std (n-1).</p>${htmlTable(g.header, g.rows)}` },
      { heading: 'Spread across seeds', body: plots.join('\n') || '<p class="note">no complete cells</p>' },
      { heading: 'Per seed', body: htmlTable(p.header, p.rows) + `<p class="note">Each cell's own report: ${escapeHtml(join(dir, 'cells', '<id>', 'report.html'))}</p>` },
    ]),
  );
  writeFileAtomicSync(files.markdown, [`# sweep ${s.name}`, '', '## Mean ± std across seeds', '', markdownTable(g.header, g.rows), '', '## Per seed', '', markdownTable(p.header, p.rows), ''].join('\n'));
  writeFileAtomicSync(files.json, JSON.stringify(s, null, 2) + '\n');
  return files;
}
