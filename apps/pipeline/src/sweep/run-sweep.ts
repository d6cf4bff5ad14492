import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomicSync } from '../atomic-write';
import { ConfigError } from '../config/config-error';
import { parsePipelineConfig } from '../config/load-config';
import { applySetFlags } from '../config/overrides';
import type { StageRegistry } from '../config/stage-registry';
import { RunDir } from '../run-dir';
import { expandSweep, loadSweepConfig, type SweepCell, type SweepConfig } from './sweep-config';

export const SWEEP_FILE = 'sweep.json';

/** What sweep.json records: the sweep config, its base file and every cell. */
export interface SweepRecord {
  name: string;
  sweepFile: string;
  baseFile: string;
  config: SweepConfig;
  cells: SweepCell[];
  /** `--set` overrides applied to every cell. */
  overrides?: string[];
}

/** Message a worker receives: run (or resume) one cell's pipeline in `runDir`. */
export interface WorkerJob {
  pipeline: Record<string, unknown>;
  runDir: string;
  label: string;
}

export interface SweepResult {
  dir: string;
  ran: string[];
  skipped: string[];
  failed: { id: string; code: number | null }[];
  interrupted: boolean;
}

export function cellDir(sweepDir: string, id: string): string {
  return join(sweepDir, 'cells', id);
}

export function isCellComplete(dir: string): boolean {
  if (!RunDir.isRunDir(dir)) return false;
  return RunDir.open(dir).readState()?.finished === true;
}

const DEFAULT_WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));

/**
 * Expand and validate the grid, then run incomplete cells in `concurrency` forked workers.
 * Complete cells are skipped and partial ones resumed, so rerunning a killed sweep continues it.
 */
export async function runSweep(opts: {
  file: string;
  registry: StageRegistry;
  root?: string;
  dir?: string;
  concurrency?: number;
  workerEntry?: string;
  onLog?: (line: string) => void;
  /** `--set key=value` overrides applied to every cell's pipeline (recorded in sweep.json). */
  overrides?: readonly string[];
}): Promise<SweepResult> {
  const { config, base, baseFile } = loadSweepConfig(opts.file);
  const overrides = [...(opts.overrides ?? [])];
  const cells = expandSweep(config, base, opts.file).map((c) => ({ ...c, pipeline: applySetFlags(c.pipeline, overrides, `the cells of ${opts.file}`) }));
  for (const c of cells) parsePipelineConfig(c.pipeline, `${opts.file} (cell ${c.id})`, opts.registry);
  const name = config.name ?? 'sweep';
  const dir = resolve(opts.dir ?? join(opts.root ?? 'runs', name));
  mkdirSync(join(dir, 'cells'), { recursive: true });
  checkSameOverrides(dir, overrides);
  const record: SweepRecord = { name, sweepFile: resolve(opts.file), baseFile, config, cells, ...(overrides.length ? { overrides } : {}) };
  writeFileAtomicSync(join(dir, SWEEP_FILE), JSON.stringify(record, null, 2) + '\n');

  const log = opts.onLog ?? (() => {});
  const result: SweepResult = { dir, ran: [], skipped: [], failed: [], interrupted: false };
  const todo = cells.filter((c) => {
    if (isCellComplete(cellDir(dir, c.id))) {
      result.skipped.push(c.id);
      return false;
    }
    return true;
  });
  if (result.skipped.length) log(`sweep ${name}: ${result.skipped.length} cell(s) already complete, skipped`);
  log(`sweep ${name}: ${todo.length} cell(s) to run, concurrency ${opts.concurrency ?? config.concurrency}`);

  const children = new Set<ChildProcess>();
  const onSignal = (sig: NodeJS.Signals): void => {
    result.interrupted = true;
    for (const ch of children) ch.kill(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const tsx = import.meta.resolve('tsx');
  const runCell = (cell: SweepCell): Promise<void> =>
    new Promise((done) => {
      const child = fork(opts.workerEntry ?? DEFAULT_WORKER, [], { execArgv: ['--conditions=@emrl/source', '--import', tsx], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
      children.add(child);
      const prefix = (buf: Buffer): void => {
        // Workers are not on a TTY, so their progress is already one plain line per N steps.
        for (const line of buf.toString().split('\n')) if (line.trim()) log(`[${cell.id}] ${line}`);
      };
      child.stdout?.on('data', prefix);
      child.stderr?.on('data', prefix);
      const job: WorkerJob = { pipeline: cell.pipeline, runDir: cellDir(dir, cell.id), label: `${opts.file} (cell ${cell.id})` };
      child.send(job);
      child.on('exit', (code) => {
        children.delete(child);
        if (code === 0) {
          result.ran.push(cell.id);
          log(progressLine(name, result.ran.length + result.failed.length, todo.length, performance.now() - t0));
        }
        else if (code === 130) result.interrupted = true;
        else result.failed.push({ id: cell.id, code });
        done();
      });
    });
  const queue = [...todo];
  const t0 = performance.now();
  const lanes = Array.from({ length: Math.max(1, opts.concurrency ?? config.concurrency) }, async () => {
    for (let cell = queue.shift(); cell && !result.interrupted; cell = queue.shift()) await runCell(cell);
  });
  try {
    await Promise.all(lanes);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  for (const f of result.failed) log(`cell ${f.id} failed (exit ${f.code}); see ${join(cellDir(dir, f.id), 'events.jsonl')}`);
  return result;
}


/** A sweep directory resumes only with the overrides it was started with (its complete cells used them). */
function checkSameOverrides(dir: string, overrides: readonly string[]): void {
  const file = join(dir, SWEEP_FILE);
  if (!existsSync(file)) return;
  const before = ((JSON.parse(readFileSync(file, 'utf8')) as { overrides?: string[] }).overrides ?? []).join(' ');
  if (before !== overrides.join(' ')) {
    throw new ConfigError('--set', [`${dir} was run with --set [${before || 'none'}], not [${overrides.join(' ') || 'none'}]; its complete cells would mix settings: use those overrides, or another --out`]);
  }
}

/**
 * `sweep <name>: 3/18 cells done, 41s elapsed, ETA 3m25s`: the wall time per finished cell so far
 * (which already reflects the parallel lanes) times the cells left.
 */
export function progressLine(name: string, done: number, total: number, elapsedMs: number): string {
  const fmt = (ms: number): string => {
    const sec = Math.round(ms / 1000);
    return sec >= 60 ? `${Math.floor(sec / 60)}m${String(sec % 60).padStart(2, '0')}s` : `${sec}s`;
  };
  const eta = done > 0 ? (elapsedMs / done) * (total - done) : 0;
  return `sweep ${name}: ${done}/${total} cells done, ${fmt(elapsedMs)} elapsed${done > 0 && done < total ? `, ETA ${fmt(eta)}` : ''}`;
}
