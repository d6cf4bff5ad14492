import { join } from 'node:path';
import { writeFileAtomicSync } from '../atomic-write';
import { escapeHtml, figure, htmlPage, htmlTable } from './html';
import { loadRun } from './load-run';
import { accuracyByTemperatureSpec, lineOverStepsSpec, logitHistogramSpec, renderSvg } from './plots';
import { boundaryLabel, boundaryRows, boundaryTable, familySeries, formatSummaryMarkdown, METRIC_FAMILIES, summarizeRun, type RunSummary } from './summary';

export interface ReportFiles {
  html: string;
  markdown: string;
  json: string;
}

/** report.html body sections for one run (also embedded per cell by sweep reports if needed). */
export async function runReportSections(dir: string): Promise<{ summary: RunSummary; sections: { heading: string; body: string }[] }> {
  const run = loadRun(dir);
  const summary = summarizeRun(run);
  const rows = boundaryRows(run.events);
  const t = boundaryTable(summary);
  const sections: { heading: string; body: string }[] = [];
  sections.push({
    heading: 'Stage boundaries',
    body:
      `<p class="note">Logit statistics scope: ${escapeHtml(summary.scope ?? 'n/a')}. Skewness is Fisher-Pearson g1 (m3 / m2^1.5).</p>` +
      htmlTable(t.header, t.rows) +
      rows
        .filter((r) => r.problem)
        .map((r) => `<p class="note">${escapeHtml(r.label)}: ${escapeHtml(r.problem!)}</p>`)
        .join(''),
  });
  const curves: string[] = [];
  for (const fam of METRIC_FAMILIES) {
    const pts = familySeries(run.metrics, fam.match);
    if (pts.length > 0) curves.push(figure(await renderSvg(lineOverStepsSpec(`${fam.title} over steps`, pts, fam.name)), `plot-${fam.name}`));
  }
  sections.push({ heading: 'Training curves', body: curves.join('\n') || '<p class="note">no metrics recorded</p>' });
  const acc = rows.flatMap((r) => (r.record?.accuracyByTemperature ?? []).map((a) => ({ temperature: a.temperature, accuracy: a.accuracy, checkpoint: r.label })));
  const hist = rows.flatMap((r) => {
    const h = r.record?.histogram;
    if (!h) return [];
    const total = h.counts.reduce((a, b) => a + b, 0) || 1;
    // Density so checkpoints with different token counts overlay; a closing point draws the last bin.
    const pts = h.counts.map((c, i) => ({ logit: h.edges[i]!, density: c / total / (h.edges[i + 1]! - h.edges[i]!), checkpoint: r.label }));
    return [...pts, { logit: h.edges[h.edges.length - 1]!, density: pts[pts.length - 1]?.density ?? 0, checkpoint: r.label }];
  });
  const shift: string[] = [];
  if (acc.length > 0) shift.push(figure(await renderSvg(accuracyByTemperatureSpec(acc)), 'plot-accuracy-temperature'));
  if (hist.length > 0) shift.push(figure(await renderSvg(logitHistogramSpec(hist, summary.scope ?? '')), 'plot-logit-histogram'));
  sections.push({ heading: 'Logit shift across checkpoints', body: shift.join('\n') || '<p class="note">no diagnostics recorded</p>' });
  sections.push({
    heading: 'Stages',
    body: htmlTable(
      ['stage', 'kind', 'status', 'wall time (s)', 'summary'],
      summary.stages.map((s) => [s.id, s.kind, s.status, (s.wallMs / 1000).toFixed(1), Object.entries(s.summary).map(([k, v]) => `${k}=${v}`).join(', ')]),
    ),
  });
  sections.push({
    heading: 'Run',
    body: `<p class="note">${escapeHtml(`${run.dir} · seed ${summary.seed} · ${summary.git ? `git ${summary.git.commit}${summary.git.dirty ? ' (dirty)' : ''}` : 'no git'} · node ${run.record.versions.node}`)}</p>`,
  });
  return { summary, sections };
}

/** Write report.html, summary.md and summary.json into a run directory. */
export async function writeRunReport(dir: string): Promise<ReportFiles> {
  const { summary, sections } = await runReportSections(dir);
  const files = { html: join(dir, 'report.html'), markdown: join(dir, 'summary.md'), json: join(dir, 'summary.json') };
  writeFileAtomicSync(files.html, htmlPage(`emrl run ${summary.run}`, sections));
  writeFileAtomicSync(files.markdown, formatSummaryMarkdown(summary));
  writeFileAtomicSync(files.json, JSON.stringify(summary, null, 2) + '\n');
  return files;
}

export { boundaryLabel };
