import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomicSync } from './atomic-write';
import { formatCsv, formatCsvRow, unionColumns, type MetricsRow } from './metrics-csv';
import { serializeEvent, type PipelineEvent } from './pipeline-events';

export const CONFIG_FILE = 'config.json';
export const EVENTS_FILE = 'events.jsonl';
export const METRICS_FILE = 'metrics.csv';
export const STATE_FILE = 'stage-state.json';

export interface StageRecord {
  id: string;
  kind: string;
  status: 'pending' | 'running' | 'completed';
  /** Wall time summed over attempts (an attempt killed with -9 is not counted). */
  wallMs: number;
  lastCheckpoint?: { step: number; path: string };
  /** True when the stage's finished policy is not its input policy (resume must load a checkpoint). */
  policyChanged?: boolean;
  outputPolicy?: string;
  summary?: Record<string, number>;
  /** The stage's JSON result (e.g. a selection ranking), handed to later stages as `previous`. */
  result?: unknown;
}

/** stage-state.json: what a resume needs. `eventsBytes` = length of events.jsonl at the last durable point. */
export interface RunState {
  version: 1;
  stages: StageRecord[];
  /** Diagnostics boundaries already recorded ("start", "after:<id>"). */
  boundaries: string[];
  eventsBytes: number;
  finished: boolean;
  interrupted?: boolean;
  failed?: string;
}

/** config.json: everything needed to re-run or resume. */
export interface RunRecord {
  name: string;
  createdAt: string;
  /** Resolved pipeline file (every default filled); parsePipelineConfig accepts it again. */
  pipeline: Record<string, unknown>;
  seed: number;
  git: { commit: string; dirty: boolean } | null;
  versions: { node: string; packages: Record<string, string> };
  backend: unknown;
  argv: string[];
  /** Where the run ran (absent in runs recorded before it was added). */
  machine?: { platform: string; arch: string; cpu: string; cores: number; memoryGb: number };
}

/** `<name>-YYYYMMDD-HHMMSS` in UTC, e.g. em-warmstart-20250101-120000. */
export function runDirName(name: string, date: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${name}-${date.getUTCFullYear()}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}-${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}`;
}

/** A run directory: config.json, events.jsonl (append-only), metrics.csv, stage-state.json, checkpoints/. */
export class RunDir {
  private columns: string[] = [];
  private rows: MetricsRow[] = [];

  private constructor(readonly dir: string) {}

  /** Create `dir`, or `<root>/<name>-<timestamp>` (suffix -2, -3 when taken). Fails if `dir` holds a run. */
  static create(opts: { dir?: string; root?: string; name: string; date?: Date }): RunDir {
    let dir = opts.dir ? resolve(opts.dir) : resolve(opts.root ?? 'runs', runDirName(opts.name, opts.date ?? new Date()));
    if (!opts.dir) {
      for (let n = 2; existsSync(dir); n++) dir = resolve(opts.root ?? 'runs', `${runDirName(opts.name, opts.date ?? new Date())}-${n}`);
    } else if (existsSync(join(dir, STATE_FILE))) {
      throw new Error(`${dir} already holds a run; use "emrl resume ${dir}" or choose another --out`);
    }
    mkdirSync(join(dir, 'checkpoints'), { recursive: true });
    writeFileSync(join(dir, EVENTS_FILE), '');
    return new RunDir(dir);
  }

  /** Open an existing run directory (resume, report). */
  static open(dir: string): RunDir {
    const abs = resolve(dir);
    if (!existsSync(join(abs, EVENTS_FILE))) throw new Error(`${abs}: not a run directory (no ${EVENTS_FILE})`);
    return new RunDir(abs);
  }

  static isRunDir(dir: string): boolean {
    return existsSync(join(dir, CONFIG_FILE)) && existsSync(join(dir, EVENTS_FILE));
  }

  path(file: string): string {
    return join(this.dir, file);
  }

  checkpointDir(stageId: string): string {
    return join(this.dir, 'checkpoints', stageId);
  }

  writeConfig(record: RunRecord): void {
    writeFileAtomicSync(this.path(CONFIG_FILE), JSON.stringify(record, null, 2) + '\n');
  }

  readConfig(): RunRecord {
    return JSON.parse(readFileSync(this.path(CONFIG_FILE), 'utf8')) as RunRecord;
  }

  /** Append one event line; metrics events also become a metrics.csv row. */
  appendEvent(e: PipelineEvent): void {
    appendFileSync(this.path(EVENTS_FILE), serializeEvent(e) + '\n');
    if (e.type === 'metrics') this.addMetricsRow({ stage: e.stage, step: e.step, metrics: e.metrics });
  }

  private addMetricsRow(row: MetricsRow): void {
    const cols = unionColumns(this.columns, row.metrics);
    this.rows.push(row);
    if (cols.length !== this.columns.length || this.rows.length === 1) {
      // New columns: rewrite the whole table atomically so readers never see a ragged header.
      this.columns = cols;
      writeFileAtomicSync(this.path(METRICS_FILE), formatCsv(this.columns, this.rows));
    } else {
      appendFileSync(this.path(METRICS_FILE), formatCsvRow(this.columns, row));
    }
  }

  eventsSize(): number {
    return existsSync(this.path(EVENTS_FILE)) ? statSync(this.path(EVENTS_FILE)).size : 0;
  }

  readState(): RunState | undefined {
    const f = this.path(STATE_FILE);
    return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as RunState) : undefined;
  }

  /** Persist state; with `durable` the current end of events.jsonl becomes the resume point. */
  saveState(state: RunState, durable = true): void {
    if (durable) state.eventsBytes = this.eventsSize();
    writeFileAtomicSync(this.path(STATE_FILE), JSON.stringify(state, null, 2) + '\n');
  }

  /** All events as parsed JSON (policies are names). A torn last line (kill -9) is ignored. */
  readEvents(): Record<string, unknown>[] {
    const text = existsSync(this.path(EVENTS_FILE)) ? readFileSync(this.path(EVENTS_FILE), 'utf8') : '';
    const out: Record<string, unknown>[] = [];
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      try {
        out.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // torn write at the end of an interrupted run
      }
    }
    return out;
  }

  /**
   * Make the directory consistent with stage-state.json before resuming: the events after the last
   * durable point (steps past the last checkpoint, a torn line) move to events.interrupted-<n>.jsonl,
   * and metrics.csv is rebuilt from the kept events.
   */
  prepareResume(): RunState {
    const state = this.readState();
    if (!state) throw new Error(`${this.dir}: no ${STATE_FILE}; the run never started, start it again with "emrl run"`);
    const size = this.eventsSize();
    if (size > state.eventsBytes) {
      const buf = readFileSync(this.path(EVENTS_FILE));
      let n = 1;
      while (existsSync(this.path(`events.interrupted-${n}.jsonl`))) n++;
      writeFileSync(this.path(`events.interrupted-${n}.jsonl`), buf.subarray(state.eventsBytes));
      truncateSync(this.path(EVENTS_FILE), state.eventsBytes);
    }
    this.columns = [];
    this.rows = [];
    for (const e of this.readEvents()) {
      if (e['type'] === 'metrics') {
        const row = { stage: String(e['stage']), step: Number(e['step']), metrics: e['metrics'] as Record<string, number> };
        this.rows.push(row);
        this.columns = unionColumns(this.columns, row.metrics);
      }
    }
    if (this.rows.length > 0) writeFileAtomicSync(this.path(METRICS_FILE), formatCsv(this.columns, this.rows));
    else if (existsSync(this.path(METRICS_FILE))) renameSync(this.path(METRICS_FILE), this.path(`${METRICS_FILE}.stale`));
    state.interrupted = false;
    delete state.failed;
    return state;
  }
}
