import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { writeFileAtomicSync } from './atomic-write';
import { checkpointManifest } from './checkpoint-manifest';
import { failpoint } from './failpoints';
import { formatCsv, formatCsvRow, unionColumns, type MetricsRow } from './metrics-csv';
import { serializeEvent, type PipelineEvent } from './pipeline-events';
import { checkResumeState, type ResumeRepair } from './resume-checks';
import { readRunJson, RunFileError, RunRecordSchema, RunStateSchema, type RunRecord, type RunState } from './run-files';
import { acquireRunLock } from './run-lock';
import { fromRunRelative, toRunRelative } from './run-paths';
import { removeStaleTempFiles } from './run-temp-files';

export const CONFIG_FILE = 'config.json';
export const EVENTS_FILE = 'events.jsonl';
export const METRICS_FILE = 'metrics.csv';
export const STATE_FILE = 'stage-state.json';

export { RunRecordSchema, RunStateSchema, StageRecordSchema, type RunRecord, type RunState, type StageRecord } from './run-files';

/** `<name>-YYYYMMDD-HHMMSS` in UTC, e.g. em-warmstart-20250101-120000. */
export function runDirName(name: string, date: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${name}-${date.getUTCFullYear()}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}-${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}`;
}

/** Every line of the durable part of events.jsonl parses as a JSON object; else names the line. */
function assertWholeEventLines(durable: Uint8Array, file: string): void {
  const lines = Buffer.from(durable).toString('utf8').split('\n');
  lines.forEach((line, i) => {
    if (line === '' && i === lines.length - 1) return;
    let e: unknown;
    try {
      e = JSON.parse(line);
    } catch {
      e = null;
    }
    if (e === null || typeof e !== 'object' || typeof (e as { type?: unknown }).type !== 'string') {
      throw new RunFileError(file, `line ${i + 1} (inside the part stage-state.json records as durable) is not an event: ${JSON.stringify(line.slice(0, 60))}; the log was edited or damaged`);
    }
  });
}

/** `dir` is usable as a run directory: absent (it will be created) or a folder; else a clear error. */
function assertFolderOrAbsent(dir: string, flag: string): void {
  let stat;
  try {
    stat = statSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') throw new RunFileError(dir, `a parent of this path is a file, not a folder; choose another ${flag}`);
    throw err;
  }
  if (!stat.isDirectory()) throw new RunFileError(dir, `is a file, not a run directory; choose another ${flag}`);
}

/**
 * A run directory: config.json, events.jsonl (append-only), metrics.csv, stage-state.json,
 * checkpoints/, and run.lock while a process works in it (run-lock.ts). Paths stored in its files
 * are relative to it (run-paths.ts), so a moved or copied run resumes from its own files.
 */
export class RunDir {
  private columns: string[] = [];
  private rows: MetricsRow[] = [];
  /** What the last prepareResume changed to agree with stage-state.json. */
  repairs: ResumeRepair[] = [];

  private constructor(readonly dir: string) {}

  /**
   * Create `dir`, or `<root>/<name>-<timestamp>` (suffix -2, -3 when taken), and lock it for this
   * process. Fails if `dir` holds a run or another live process holds it.
   */
  static create(opts: { dir?: string; root?: string; name: string; date?: Date }): RunDir {
    let dir = opts.dir ? resolve(opts.dir) : resolve(opts.root ?? 'runs', runDirName(opts.name, opts.date ?? new Date()));
    if (!opts.dir) {
      for (let n = 2; existsSync(dir); n++) dir = resolve(opts.root ?? 'runs', `${runDirName(opts.name, opts.date ?? new Date())}-${n}`);
    }
    assertFolderOrAbsent(dir, opts.dir ? '--out' : '--runs');
    mkdirSync(dir, { recursive: true });
    // Lock before looking: two `run --out X` started together cannot both see X as free.
    acquireRunLock(dir, 'run');
    if (opts.dir && existsSync(join(dir, STATE_FILE))) {
      throw new Error(`${dir} already holds a run; use "emrl resume ${dir}" or choose another --out`);
    }
    // Leftovers of a run killed before its first state save; never sweep a folder that is not a run's.
    if (existsSync(join(dir, EVENTS_FILE)) || existsSync(join(dir, 'checkpoints'))) removeStaleTempFiles(dir);
    mkdirSync(join(dir, 'checkpoints'), { recursive: true });
    writeFileSync(join(dir, EVENTS_FILE), '');
    return new RunDir(dir);
  }

  /** Open an existing run directory (resume, report). Does not lock: see `claim`. */
  static open(dir: string): RunDir {
    const abs = resolve(dir);
    assertFolderOrAbsent(abs, 'run directory');
    if (!existsSync(join(abs, EVENTS_FILE))) throw new Error(`${abs}: not a run directory (no ${EVENTS_FILE})`);
    if (statSync(join(abs, EVENTS_FILE)).isDirectory()) throw new RunFileError(join(abs, EVENTS_FILE), 'expected the event log file but found a directory; restore the file from a copy of the run');
    return new RunDir(abs);
  }

  /**
   * Open a run directory for this process alone (resume, report): takes run.lock (refused while a
   * live process holds it) and removes temp files and folders of killed processes.
   */
  static claim(dir: string, command: string): RunDir {
    const rd = RunDir.open(dir);
    acquireRunLock(rd.dir, command);
    removeStaleTempFiles(rd.dir);
    return rd;
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

  /** config.json, validated (errors name the file). */
  readConfig(): RunRecord {
    return readRunJson(this.path(CONFIG_FILE), RunRecordSchema, 'run record (config.json)');
  }

  /** Append one event line; metrics events also become a metrics.csv row. */
  appendEvent(e: PipelineEvent): void {
    const stored = e.type === 'checkpoint' ? { ...e, path: toRunRelative(this.dir, e.path) } : e;
    // Paths inside the run named in free text (log lines like "resumed from <dir>/checkpoints/...") become relative too.
    const line = serializeEvent(stored).split(JSON.stringify(this.dir + sep).slice(1, -1)).join('');
    appendFileSync(this.path(EVENTS_FILE), line + '\n');
    failpoint('after-append', this.path(EVENTS_FILE));
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
      failpoint('after-append', this.path(METRICS_FILE));
    }
  }

  eventsSize(): number {
    return existsSync(this.path(EVENTS_FILE)) ? statSync(this.path(EVENTS_FILE)).size : 0;
  }

  /**
   * stage-state.json, validated, with checkpoint paths made absolute for this directory (old
   * absolute paths of a moved or copied run are rebased onto it). Undefined only while the run has
   * not written any event yet; a missing file next to a non-empty events.jsonl is an error.
   */
  readState(): RunState | undefined {
    const f = this.path(STATE_FILE);
    if (!existsSync(f)) {
      if (this.eventsSize() === 0) return undefined;
      throw new RunFileError(f, `missing, but ${EVENTS_FILE} holds ${this.eventsSize()} bytes of events; the run directory is damaged (restore the file from a copy of the run, or start the run again)`);
    }
    const state = readRunJson(f, RunStateSchema, 'run state');
    state.stages.forEach((rec, i) => {
      if (!rec.lastCheckpoint) return;
      const abs = fromRunRelative(this.dir, rec.lastCheckpoint.path);
      if (abs === null) {
        throw new RunFileError(f, `stages[${i}].lastCheckpoint.path "${rec.lastCheckpoint.path}" lies outside the run directory; it must be relative to it (checkpoints/<stage>/step-N)`);
      }
      rec.lastCheckpoint = { ...rec.lastCheckpoint, path: abs };
    });
    return state;
  }

  /** Persist state (checkpoint paths relative to the run); with `durable` the current end of events.jsonl becomes the resume point. */
  saveState(state: RunState, durable = true): void {
    if (durable) state.eventsBytes = this.eventsSize();
    const stored: RunState = {
      ...state,
      stages: state.stages.map((rec) => {
        const ckpt = rec.lastCheckpoint;
        if (!ckpt) return rec;
        // A new checkpoint event gives a new object without sizes: record them once, while the folder is fresh.
        ckpt.files ??= checkpointManifest(ckpt.path);
        return { ...rec, lastCheckpoint: { ...ckpt, path: toRunRelative(this.dir, ckpt.path) } };
      }),
    };
    writeFileAtomicSync(this.path(STATE_FILE), JSON.stringify(stored, null, 2) + '\n');
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
    this.repairs = checkResumeState(this.dir, state, size);
    const buf = readFileSync(this.path(EVENTS_FILE));
    // The durable part of the log is kept as it is, so every line of it must be whole (checked before anything moves).
    assertWholeEventLines(buf.subarray(0, state.eventsBytes), this.path(EVENTS_FILE));
    if (size > state.eventsBytes) {
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
