import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomicSync } from '../atomic-write';
import { parsePipelineConfig } from '../config/load-config';
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
}): Promise<SweepResult> {
  const { config, base, baseFile } = loadSweepConfig(opts.file);
  const cells = expandSweep(config, base, opts.file);
  for (const c of cells) parsePipelineConfig(c.pipeline, `${opts.file} (cell ${c.id})`, opts.registry);
  const name = config.name ?? 'sweep';
  const dir = resolve(opts.dir ?? join(opts.root ?? 'runs', name));
  mkdirSync(join(dir, 'cells'), { recursive: true });
  const record: SweepRecord = { name, sweepFile: resolve(opts.file), baseFile, config, cells };
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
        if (code === 0) result.ran.push(cell.id);
        else if (code === 130) result.interrupted = true;
        else result.failed.push({ id: cell.id, code });
        done();
      });
    });
  const queue = [...todo];
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

