import { existsSync, readFileSync } from 'node:fs';
import { parseCsv, type MetricsRow } from '../metrics-csv';
import { METRICS_FILE, RunDir, type RunRecord, type RunState } from '../run-dir';

/** Everything a report needs from one run directory. */
export interface RunData {
  dir: string;
  record: RunRecord;
  state: RunState | undefined;
  events: Record<string, unknown>[];
  metrics: MetricsRow[];
}

export function loadRun(dir: string): RunData {
  const rd = RunDir.open(dir);
  const metricsPath = rd.path(METRICS_FILE);
  return {
    dir: rd.dir,
    record: rd.readConfig(),
    state: rd.readState(),
    events: rd.readEvents(),
    metrics: existsSync(metricsPath) ? parseCsv(readFileSync(metricsPath, 'utf8')) : [],
  };
}
