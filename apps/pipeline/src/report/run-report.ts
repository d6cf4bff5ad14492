import { join } from 'node:path';
import { stringify } from 'yaml';
import { writeFileAtomicSync } from '../atomic-write';
import { formatNumber } from '../progress';
import { formatBackendLine } from '../console/run-results';
import { boundarySection } from './boundary-section';
import { evalSection } from './eval-section';
import { escapeHtml, figure, htmlPage, htmlTable } from './html';
import { loadRun, type RunData } from './load-run';
import { mergeIdenticalSeries, METRIC_PANELS, panelPoints, unplottedMetrics } from './metric-panels';
import { renderSvg } from './plots';
import { stagePanelSpec } from './run-plots';
import { boundaryLabel, boundaryRows, formatSummaryMarkdown, summarizeRun, type RunSummary } from './summary';
import { sampleSection } from './samples-section';

export interface ReportFiles {
  html: string;
  markdown: string;
  json: string;
}

/** Run status, backend, device, seed, git and node: the line under the title. */
function headerNote(run: RunData, summary: RunSummary): string {
  const m = run.record.machine;
  const device = m ? `${m.platform} ${m.arch}, ${m.cpu} x${m.cores}, ${m.memoryGb} GB` : 'not recorded';
  const status = summary.finished ? 'finished' : 'not finished (running or interrupted; this report is as of the last stage boundary)';
  return [
    `<p class="note"><b>${escapeHtml(formatBackendLine(run.record.backend))}</b> · device: ${escapeHtml(device)}</p>`,
    `<p class="note">${escapeHtml(`${status} · seed ${summary.seed} · ${summary.git ? `git ${summary.git.commit.slice(0, 10)}${summary.git.dirty ? ' (dirty)' : ''}` : 'no git'} · node ${run.record.versions.node} · ${run.dir}`)}</p>`,
  ].join('\n');
}

/** One chart per metric panel (stages as columns with their own step axis); what is not drawn. */
async function curvesSection(run: RunData): Promise<string> {
  const kinds = new Map((run.state?.stages ?? []).map((s) => [s.id, s.kind]));
  const kindOf = (stage: string): string | undefined => kinds.get(stage);
  const figs: string[] = [];
  for (const panel of METRIC_PANELS) {
    const pts = mergeIdenticalSeries(panelPoints(run.metrics, panel, kindOf));
    if (pts.length > 0) figs.push(figure(await renderSvg(stagePanelSpec(panel.title, panel.yTitle, pts, panel.domain)), `plot-${panel.id}`));
  }
  const rest = unplottedMetrics(run.metrics, kindOf);
  if (rest.length > 0) figs.push(`<p class="note">Recorded but not plotted (see metrics.csv): ${escapeHtml(rest.join(', '))}.</p>`);
  return figs.join('\n') || '<p class="note">no training metrics recorded</p>';
}

/** report.html body sections for one run. */
export async function runReportSections(dir: string): Promise<{ summary: RunSummary; header: string; sections: { heading: string; body: string }[] }> {
  const run = loadRun(dir);
  const summary = summarizeRun(run);
  const rows = boundaryRows(run.events);
  const pipeline = run.record.pipeline as { diagnostics?: { samplesPerPrompt?: number } };
  const sections: { heading: string; body: string }[] = [];
  const evalBody = await evalSection(run.events);
  if (evalBody) sections.push({ heading: 'Held-out evaluation', body: evalBody });
  sections.push({ heading: 'Stage boundaries', body: await boundarySection(summary, rows, pipeline.diagnostics?.samplesPerPrompt ?? 1) });
  sections.push({ heading: 'Training curves', body: await curvesSection(run) });
  const samples = sampleSection(rows);
  if (samples) sections.push({ heading: 'Sample completions', body: samples });
  sections.push({
    heading: 'Stages',
    body: `<div class="text">${htmlTable(
      ['stage', 'kind', 'status', 'wall time (s)', 'summary'],
      summary.stages.map((s) => [s.id, s.kind, s.status, (s.wallMs / 1000).toFixed(1), Object.entries(s.summary).map(([k, v]) => `${k}=${formatNumber(v)}`).join(', ')]),
    )}</div>`,
  });
  sections.push({ heading: 'Config', body: `<p class="note">Resolved pipeline (config.json, every default filled); command: emrl ${escapeHtml(run.record.argv.join(' '))}</p><pre>${escapeHtml(stringify(run.record.pipeline, { lineWidth: 0 }))}</pre>` });
  return { summary, header: headerNote(run, summary), sections };
}

/** Write report.html, summary.md and summary.json into a run directory. */
export async function writeRunReport(dir: string): Promise<ReportFiles> {
  const { summary, header, sections } = await runReportSections(dir);
  const files = { html: join(dir, 'report.html'), markdown: join(dir, 'summary.md'), json: join(dir, 'summary.json') };
  writeFileAtomicSync(files.html, htmlPage(`emrl run ${summary.run}`, sections, header));
  writeFileAtomicSync(files.markdown, formatSummaryMarkdown(summary));
  writeFileAtomicSync(files.json, JSON.stringify(summary, null, 2) + '\n');
  return files;
}

export { boundaryLabel };
