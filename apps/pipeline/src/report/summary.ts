import { formatNumber } from '../progress';
import { DiagnosticsRecordSchema, type DiagnosticsRecord } from './diagnostics-schema';
import type { RunData } from './load-run';

/** One stage boundary ("start", "after:em", ...) with its diagnostics, or why they are unusable. */
export interface BoundaryRow {
  boundary: string;
  /** Short label for tables and legends: "start", "after em". */
  label: string;
  policy: string;
  record?: DiagnosticsRecord;
  problem?: string;
}

export interface RunSummary {
  run: string;
  dir: string;
  seed: number;
  git: RunData['record']['git'];
  finished: boolean;
  stages: { id: string; kind: string; status: string; wallMs: number; summary: Record<string, number> }[];
  boundaries: {
    boundary: string;
    policy: string;
    accuracyByTemperature: Record<string, number>;
    skewness: number | null;
    entropy: number | null;
    ece: number | null;
    brier: number | null;
    scope: string | null;
    problem?: string;
  }[];
  temperatures: number[];
  /** Scope of the logit statistics (the first boundary's; all boundaries of a run share it). */
  scope: string | null;
}

export function boundaryLabel(b: string): string {
  return b === 'start' ? 'start' : b.replace(/^after:/, 'after ');
}

export function boundaryRows(events: readonly Record<string, unknown>[]): BoundaryRow[] {
  return events
    .filter((e) => e['type'] === 'diagnostics')
    .map((e) => {
      const boundary = String(e['boundary']);
      const parsed = DiagnosticsRecordSchema.safeParse(e['diagnostics']);
      const row: BoundaryRow = { boundary, label: boundaryLabel(boundary), policy: String(e['policy']) };
      if (parsed.success) row.record = parsed.data;
      else row.problem = `diagnostics do not match DiagnosticsRecordSchema: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`;
      return row;
    });
}

export function summarizeRun(run: RunData): RunSummary {
  const rows = boundaryRows(run.events);
  const temps = [...new Set(rows.flatMap((r) => r.record?.accuracyByTemperature.map((a) => a.temperature) ?? []))].sort((a, b) => a - b);
  return {
    run: run.record.name,
    dir: run.dir,
    seed: run.record.seed,
    git: run.record.git,
    finished: run.state?.finished ?? false,
    stages: (run.state?.stages ?? []).map((s) => ({ id: s.id, kind: s.kind, status: s.status, wallMs: s.wallMs, summary: s.summary ?? {} })),
    boundaries: rows.map((r) => ({
      boundary: r.boundary,
      policy: r.policy,
      accuracyByTemperature: Object.fromEntries((r.record?.accuracyByTemperature ?? []).map((a) => [String(a.temperature), a.accuracy])),
      skewness: r.record?.logitStats.skewness ?? null,
      entropy: r.record?.logitStats.entropy ?? null,
      ece: r.record?.calibration.ece ?? null,
      brier: r.record?.calibration.brier ?? null,
      scope: r.record?.scope ?? null,
      ...(r.problem ? { problem: r.problem } : {}),
    })),
    temperatures: temps,
    scope: rows.find((r) => r.record)?.record?.scope ?? null,
  };
}

const cell = (x: number | null | undefined): string => (x === null || x === undefined || !Number.isFinite(x) ? '-' : formatNumber(x));

/** Header + rows of the boundary table (shared by markdown and HTML). */
export function boundaryTable(s: RunSummary): { header: string[]; rows: string[][] } {
  const header = ['boundary', 'policy', ...s.temperatures.map((t) => `acc@T=${t}`), 'skewness', 'entropy', 'ECE', 'Brier'];
  const rows = s.boundaries.map((b) => [
    boundaryLabel(b.boundary),
    b.policy,
    ...s.temperatures.map((t) => cell(b.accuracyByTemperature[String(t)])),
    cell(b.skewness),
    cell(b.entropy),
    cell(b.ece),
    cell(b.brier),
  ]);
  return { header, rows };
}

export function markdownTable(header: string[], rows: string[][]): string {
  const esc = (c: string): string => c.replace(/\|/g, '\\|');
  return [`| ${header.map(esc).join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`)].join('\n');
}

export function formatSummaryMarkdown(s: RunSummary): string {
  const t = boundaryTable(s);
  const stageRows = s.stages.map((st) => [st.id, st.kind, st.status, `${(st.wallMs / 1000).toFixed(1)}s`, Object.entries(st.summary).map(([k, v]) => `${k}=${formatNumber(v)}`).join(', ')]);
  const problems = s.boundaries.filter((b) => b.problem).map((b) => `- ${boundaryLabel(b.boundary)}: ${b.problem}`);
  return [
    `# ${s.run}`,
    '',
    `seed ${s.seed} · ${s.git ? `git ${s.git.commit.slice(0, 10)}${s.git.dirty ? ' (dirty)' : ''}` : 'no git'} · ${s.finished ? 'finished' : 'not finished'}`,
    '',
    '## Stage boundaries',
    '',
    `Skewness and entropy scope: ${s.scope ?? 'n/a'}. Skewness is Fisher-Pearson g1 (m3 / m2^1.5).`,
    '',
    markdownTable(t.header, t.rows),
    ...(problems.length ? ['', ...problems] : []),
    '',
    '## Stages',
    '',
    markdownTable(['stage', 'kind', 'status', 'wall time', 'summary'], stageRows),
    '',
  ].join('\n');
}
