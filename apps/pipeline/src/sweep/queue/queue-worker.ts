import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DelayedError, UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import { z } from 'zod';
import { writeFileAtomicSync } from '../../atomic-write';
import { ConfigError } from '../../config/config-error';
import { parsePipelineConfig } from '../../config/load-config';
import type { StageRegistry } from '../../config/stage-registry';
import { loadRun } from '../../report/load-run';
import { summarizeRun } from '../../report/summary';
import { cellMetrics } from '../aggregate';
import { CELL_QUEUE, CellJobDataSchema, type CellJobData, type CellResult } from './cell-job';
import { forkCell, type CellProcess } from './cell-process';
import type { QueueTarget } from './redis-url';

export interface QueueWorkerOptions {
  target: QueueTarget;
  registry: StageRegistry;
  /** Code version of this machine; jobs from another version are refused. */
  version: string;
  /** Forked per cell (src/sweep/worker.ts with the CLI runtime). */
  cellEntry: string;
  /** Parent of this worker's cell run directories when the sweep has no shared --artifacts. */
  workDir: string;
  concurrency: number;
  /** BullMQ lock duration: a dead worker's cell is retried after at most ~2x this. */
  lockMs: number;
  /** A job refused for its code version is offered again after this long. */
  refuseDelayMs: number;
  onLog: (line: string) => void;
}

export interface QueueWorkerHandle {
  /** Resolves with the exit code when the worker stops (130 after stop()). */
  stopped: Promise<number>;
  /** Graceful stop: running cells save their state and go back to the queue. */
  stop: () => void;
}

const JOB_MARK = 'emrl-job-id';
const STOP_GRACE_MS = 5000;

/** The cell's run directory, checked to belong to this very job (config + code version). */
function prepareRunDir(data: CellJobData, jobId: string, workDir: string): string {
  const dir = join(data.artifacts ?? workDir, data.sweep, 'cells', data.cellId);
  const mark = join(dir, JOB_MARK);
  if (existsSync(mark) && readFileSync(mark, 'utf8').trim() !== jobId) {
    throw new UnrecoverableError(`${dir} holds cell ${data.cellId} of another job (a different config or code version); delete that folder or use another --work-dir / --artifacts`);
  }
  mkdirSync(dir, { recursive: true });
  if (!existsSync(mark)) writeFileAtomicSync(mark, jobId + '\n');
  return dir;
}

const jobLabel = (job: Job, data: CellJobData): string => `queue job ${job.id} (sweep ${data.sweep}, cell ${data.cellId})`;

/** The job's data, checked against the cell and pipeline schemas; anything else is never run or retried. */
function validCellJob(job: Job, registry: StageRegistry): CellJobData {
  const parsed = CellJobDataSchema.safeParse(job.data);
  if (!parsed.success) throw new UnrecoverableError(`job ${job.id} is not an emrl cell (${z.prettifyError(parsed.error)}); not run`);
  try {
    parsePipelineConfig(parsed.data.pipeline, jobLabel(job, parsed.data), registry);
  } catch (e) {
    throw new UnrecoverableError(e instanceof ConfigError ? e.message : String(e));
  }
  return parsed.data;
}

/** Log what the queue does to this worker; stop a cell whose lock was lost. */
function watchWorker(worker: Worker<CellJobData, CellResult>, me: string, running: Map<string, CellProcess>, onLog: (s: string) => void): void {
  let lastError = 0;
  worker.on('error', (e) => {
    if (Date.now() - lastError < 5000) return;
    lastError = Date.now();
    onLog(`worker ${me}: queue error (${e.message}); retrying`);
  });
  // Only here is the result in Redis (a worker that lost its lock ran the cell but does not own it).
  worker.on('completed', (job) => onLog(`worker ${me}: finished cell ${job.data.cellId} (job ${job.id})`));
  worker.on('failed', (job, e) => {
    if (job && !(e instanceof WaitingError) && !(e instanceof DelayedError)) onLog(`worker ${me}: cell ${job.data.cellId ?? job.id} failed (attempt ${job.attemptsMade}): ${e.message}`);
  });
  // Lost lock (Redis unreachable for longer than the lock): another worker may take the cell, so
  // stop ours now (it saves its state) instead of racing it in the same run directory.
  worker.on('lockRenewalFailed', (ids) => {
    for (const id of ids) {
      const p = running.get(id);
      if (p) {
        onLog(`worker ${me}: lost the lock of job ${id}; stopping its cell`);
        p.child.kill('SIGINT');
      }
    }
  });
}

/** Take cells from the queue and run each in a forked process until stopped. */
export function startQueueWorker(opts: QueueWorkerOptions): QueueWorkerHandle {
  const me = `${hostname()}:${process.pid}`;
  const running = new Map<string, CellProcess>();
  let stopping = false;

  // A job of another code version goes back for a compatible worker; this one keeps serving the
  // rest (a stale job of an abandoned sweep must not stop every worker). Said once per job.
  const refused = new Set<string>();
  const refuse = async (job: Job, token: string | undefined, why: string): Promise<never> => {
    if (!refused.has(String(job.id))) opts.onLog(`worker ${me}: refusing job ${job.id}: ${why}`);
    refused.add(String(job.id));
    await job.moveToDelayed(Date.now() + opts.refuseDelayMs, token);
    throw new DelayedError();
  };

  const processJob = async (job: Job<CellJobData, CellResult>, token?: string): Promise<CellResult> => {
    if (stopping) {
      await job.moveToWait(token);
      throw new WaitingError();
    }
    const data = validCellJob(job, opts.registry);
    if (data.codeVersion !== opts.version) {
      return refuse(job, token, `sweep ${data.sweep} needs code version ${data.codeVersion}, this worker runs ${opts.version}; check out that commit (git checkout ${data.codeVersion.split('+')[0]}, same uncommitted edits) and restart the worker; if that sweep is abandoned, remove its jobs with "emrl sweep cancel <its sweep file> --queue ..."`);
    }
    const label = jobLabel(job, data);
    const runDir = prepareRunDir(data, String(job.id), opts.workDir);
    opts.onLog(`worker ${me}: took cell ${data.cellId} (job ${job.id}, attempt ${job.attemptsMade + 1}) in ${runDir}`);
    await job.updateProgress({ worker: me, startedAt: Date.now() });
    const started = Date.now();
    const proc = forkCell(opts.cellEntry, { pipeline: data.pipeline, runDir, label }, (line) => opts.onLog(`[${data.cellId}] ${line}`));
    running.set(String(job.id), proc);
    const { code, error } = await proc.exited.finally(() => running.delete(String(job.id)));
    if (code === 130 && stopping) {
      opts.onLog(`worker ${me}: cell ${data.cellId} saved its state and went back to the queue`);
      await job.moveToWait(token);
      throw new WaitingError();
    }
    if (code !== 0) throw new Error(error ?? `cell process exited with code ${code}`);
    const summary = summarizeRun(loadRun(runDir));
    opts.onLog(`worker ${me}: cell ${data.cellId} ran in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return { cellId: data.cellId, worker: me, runDir, summary: summary as unknown as Record<string, unknown>, metrics: cellMetrics(summary) };
  };

  const worker = new Worker<CellJobData, CellResult>(CELL_QUEUE, processJob, {
    connection: opts.target.connection,
    prefix: opts.target.prefix,
    concurrency: opts.concurrency,
    lockDuration: opts.lockMs,
    stalledInterval: Math.max(500, Math.round(opts.lockMs / 2)),
    // A cell may be orphaned by several lost machines in a row before it is given up on.
    maxStalledCount: 3,
  });
  watchWorker(worker, me, running, opts.onLog);
  opts.onLog(`worker ${me}: waiting for cells on ${opts.target.display} (code version ${opts.version}, concurrency ${opts.concurrency})`);

  let settle: (code: number) => void = () => {};
  const stopped = new Promise<number>((done) => (settle = done));
  worker.on('closed', () => settle(stopping ? 130 : 0));
  return {
    stopped,
    stop: () => {
      if (stopping) return settle(130); // a second signal does not wait
      stopping = true;
      const cells = [...running.values()];
      for (const p of cells) p.child.kill('SIGINT');
      void worker.close();
      // With Redis unreachable close() waits for it forever: once the cells have saved their state,
      // give it STOP_GRACE_MS and stop anyway (their locks expire and other workers retry them).
      void Promise.all(cells.map((p) => p.exited)).then(() => setTimeout(() => settle(130), STOP_GRACE_MS).unref());
    },
  };
}
