import { resolve } from 'node:path';
import { Queue } from 'bullmq';
import type { StageRegistry } from '../../config/stage-registry';
import { CELL_QUEUE, type CellJobData } from './cell-job';
import { enqueueCells, prepareQueuedSweep } from './enqueue';
import { followCells, type FollowResult } from './follow';
import type { QueueTarget } from './redis-url';

export interface QueuedSweepResult extends FollowResult {
  dir: string;
}

/** Open the cell queue; Redis errors are logged at most every 5 s while ioredis reconnects. */
export function openCellQueue(target: QueueTarget, onLog: (s: string) => void): Queue<CellJobData> {
  const queue = new Queue<CellJobData>(CELL_QUEUE, { connection: target.connection, prefix: target.prefix });
  let last = 0;
  queue.on('error', (e) => {
    if (Date.now() - last < 5000) return;
    last = Date.now();
    onLog(`queue ${target.display}: ${e.message}; retrying`);
  });
  return queue;
}

/**
 * `emrl sweep <file> --queue <url>`: enqueue every cell (idempotent), follow until each is done or
 * failed, and keep the results in the sweep directory. Stopping (SIGINT / SIGTERM) leaves the
 * jobs to the workers; running the same command again picks up where this one left off.
 */
export async function runQueuedSweep(opts: {
  file: string;
  registry: StageRegistry;
  target: QueueTarget;
  version: string;
  root?: string;
  dir?: string;
  artifacts?: string;
  attempts: number;
  retryFailed: boolean;
  pollMs?: number;
  onLog: (s: string) => void;
}): Promise<QueuedSweepResult> {
  const artifacts = opts.artifacts ? resolve(opts.artifacts) : null;
  const sweep = prepareQueuedSweep({ ...opts, queueDisplay: opts.target.display, artifacts });
  const queue = openCellQueue(opts.target, opts.onLog);
  let stop = false;
  const onSignal = (): void => void (stop = true);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const jobOpts = { version: opts.version, artifacts, attempts: opts.attempts, retryFailed: opts.retryFailed };
    const n = await enqueueCells(queue, sweep, jobOpts);
    opts.onLog(`sweep ${sweep.name}: ${sweep.cells.length} cell(s) on ${opts.target.display}: ${n.added} enqueued, ${n.alreadyDone} already reported back${n.retried ? `, ${n.retried} failed one(s) retried` : ''}`);
    const requeue = async (): Promise<void> => void (await enqueueCells(queue, sweep, jobOpts));
    const t0 = Date.now();
    const result = await followCells(queue, sweep, { pollMs: opts.pollMs ?? 1000, onLog: opts.onLog, requeue, stop: () => stop });
    if (!result.interrupted) opts.onLog(`sweep ${sweep.name}: ${result.completed.length} done, ${result.failed.length} failed, ${((Date.now() - t0) / 1000).toFixed(1)} s after enqueueing`);
    return { ...result, dir: sweep.dir };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await queue.close();
  }
}
