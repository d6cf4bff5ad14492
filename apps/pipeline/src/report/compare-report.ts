import { basename } from 'node:path';
import { writeFileAtomicSync } from '../atomic-write';
import { evalTableRows } from '../console/eval-table';
import { formatBackendLine } from '../console/run-results';
import { boundaryIntervalPoints } from './boundary-section';
import { evalIntervalPoints, evalResults } from './eval-section';
import { escapeHtml, figure, htmlPage, htmlTable } from './html';
import { loadRun, type RunData } from './load-run';
import { mergeIdenticalSeries, METRIC_PANELS, panelPoints, type PanelPoint } from './metric-panels';
import { renderSvg } from './plots';
import { accuracyIntervalsSpec, stagePanelSpec, type IntervalPoint } from './run-plots';
import { boundaryRows } from './summary';

/** Distinct short labels for runs: the folder name, numbered when two runs share it. */
export function runLabels(dirs: readonly string[]): string[] {
  const names = dirs.map((d) => basename(d.replace(/[\\/]+$/, '')));
  return names.map((n, i) => (names.filter((m) => m === n).length > 1 ? `${n} #${i + 1}` : n));
}

/** Shift each run's points a little in x so runs with equal values stay visible side by side. */
function dodge(points: IntervalPoint[][], labels: string[]): IntervalPoint[] {
  return points.flatMap((pts, i) => pts.map((p) => ({ ...p, x: p.temperature + (i - (points.length - 1) / 2) * 0.012, series: `${labels[i]}: ${p.series}` })));
}

/** The held-out eval (first eval stage) of every run, accuracy with its interval only. */
async function evalOverlay(runs: RunData[], labels: string[]): Promise<string> {
  const per = runs.map((r) => {
    const first = evalResults(r.events)[0];
    return first ? evalIntervalPoints(first.result).filter((p) => p.series.startsWith('accuracy')).map((p) => ({ ...p, series: 'accuracy' })) : [];
  });
  const rows = runs.map((r, i) => {
    const first = evalResults(r.events)[0];
    if (!first) return [labels[i]!, 'no eval stage'];
    const t = evalTableRows(first.result);
    return [labels[i]!, t.rows.map((row) => `T=${row[0]}: ${row[2]} ${row[3]}`).join('; ')];
  });
  const table = htmlTable(['run', 'held-out accuracy [95% CI] by temperature'], rows);
  if (per.every((p) => p.length === 0)) return table;
  const spec = accuracyIntervalsSpec({ text: 'Held-out accuracy vs temperature', subtitle: 'first eval stage of each run; error bars: 95% Wilson interval over prompts' }, dodge(per, labels));
  return table + figure(await renderSvg(spec), 'plot-compare-eval');
}

/** The last boundary's probe accuracy of every run. */
async function probeOverlay(runs: RunData[], labels: string[]): Promise<string> {
  const per = runs.map((r) => {
    const rows = boundaryRows(r.events).filter((b) => b.record);
    const k = (r.record.pipeline as { diagnostics?: { samplesPerPrompt?: number } }).diagnostics?.samplesPerPrompt ?? 1;
    const last = rows.at(-1);
    return last ? boundaryIntervalPoints([last], k).map((p) => ({ ...p, series: `probe ${last.label}` })) : [];
  });
  if (per.every((p) => p.length === 0)) return '<p class="note">no boundary diagnostics recorded</p>';
  const spec = accuracyIntervalsSpec({ text: 'Probe accuracy at the last boundary', subtitle: 'error bars: 95% Wilson interval over probe prompts' }, dodge(per, labels));
  return figure(await renderSvg(spec), 'plot-compare-probe');
}

/** Training curves of all runs on shared panels: a column per stage id, a color per run and metric. */
async function curveOverlay(runs: RunData[], labels: string[]): Promise<string> {
  const figs: string[] = [];
  for (const panel of METRIC_PANELS) {
    const pts: PanelPoint[] = runs.flatMap((r, i) => {
      const kinds = new Map((r.state?.stages ?? []).map((s) => [s.id, s.kind]));
      return mergeIdenticalSeries(panelPoints(r.metrics, panel, (s) => kinds.get(s))).map((p) => ({ ...p, series: `${labels[i]}: ${p.series}` }));
    });
    if (pts.length > 0) figs.push(figure(await renderSvg(stagePanelSpec(panel.title, panel.yTitle, pts, panel.domain)), `plot-compare-${panel.id}`));
  }
  return figs.join('\n') || '<p class="note">no training metrics recorded</p>';
}

/** One page overlaying several runs: held-out eval, last probe, training curves, what each ran. */
export async function writeCompareReport(dirs: readonly string[], outFile: string): Promise<string> {
  const runs = dirs.map((d) => loadRun(d));
  const labels = runLabels(dirs);
  const sections = [
    {
      heading: 'Runs',
      body: htmlTable(
        ['run', 'stages', 'seed', 'backend', 'status', 'folder'],
        runs.map((r, i) => [labels[i]!, (r.state?.stages ?? []).map((s) => s.id).join(' -> '), String(r.record.seed), formatBackendLine(r.record.backend).replace(/^backend: /, ''), r.state?.finished ? 'finished' : 'not finished', r.dir]),
      ),
    },
    { heading: 'Held-out evaluation', body: await evalOverlay(runs, labels) },
    { heading: 'Probe at the last boundary', body: await probeOverlay(runs, labels) },
    { heading: 'Training curves', body: await curveOverlay(runs, labels) },
  ];
  writeFileAtomicSync(outFile, htmlPage(`emrl compare: ${labels.map(escapeHtml).join(' vs ')}`, sections));
  return outFile;
}
