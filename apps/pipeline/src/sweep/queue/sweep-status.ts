import type { Queue } from 'bullmq';
import type { CellJobData } from './cell-job';
import type { QueuedCell } from './enqueue';
import { readCellResult } from './results';

export type CellState = 'done' | 'running' | 'failed' | 'waiting' | 'missing';

export interface CellStatus {
  id: string;
  state: CellState;
  attempts: number;
  worker: string | null;
  /** Seconds spent so far (running) or in total (done). */
  seconds: number | null;
  error: string | null;
}

export interface SweepStatus {
  cells: CellStatus[];
  counts: Record<CellState, number>;
  workers: number;
  /** Seconds until all cells are done, from the mean finished cell and the live workers; null if unknown. */
  etaSeconds: number | null;
}

const workerOf = (progress: unknown): string | null =>
  progress !== null && typeof progress === 'object' && typeof (progress as { worker?: unknown }).worker === 'string' ? (progress as { worker: string }).worker : null;

/** Per-cell state of a queued sweep, read from Redis (and the results the coordinator already holds). */
export async function sweepStatus(queue: Queue<CellJobData>, sweep: { dir: string; cells: QueuedCell[] }, now = Date.now()): Promise<SweepStatus> {
  const cells: CellStatus[] = [];
  for (const { cell, jobId } of sweep.cells) {
    const job = await queue.getJob(jobId);
    const result = readCellResult(sweep.dir, cell.id);
    if (!job) {
      cells.push({ id: cell.id, state: result ? 'done' : 'missing', attempts: 0, worker: result?.worker ?? null, seconds: null, error: null });
      continue;
    }
    const s = await job.getState();
    const state: CellState = s === 'completed' ? 'done' : s === 'active' ? 'running' : s === 'failed' ? 'failed' : 'waiting';
    const seconds = job.processedOn ? ((job.finishedOn ?? now) - job.processedOn) / 1000 : null;
    cells.push({ id: cell.id, state, attempts: job.attemptsMade, worker: workerOf(job.progress), seconds: state === 'waiting' ? null : seconds, error: state === 'failed' ? (job.failedReason ?? null) : null });
  }
  const counts: Record<CellState, number> = { done: 0, running: 0, failed: 0, waiting: 0, missing: 0 };
  for (const c of cells) counts[c.state] += 1;
  const workers = (await queue.getWorkers()).length;
  const doneTimes = cells.filter((c) => c.state === 'done' && c.seconds !== null).map((c) => c.seconds!);
  const mean = doneTimes.length ? doneTimes.reduce((a, b) => a + b, 0) / doneTimes.length : null;
  const left = cells.filter((c) => c.state === 'running').reduce((a, c) => a + Math.max(0, (mean ?? 0) - (c.seconds ?? 0)), 0) + (counts.waiting + counts.missing) * (mean ?? 0);
  const pending = counts.running + counts.waiting + counts.missing;
  const etaSeconds = pending === 0 ? 0 : mean === null ? null : left / Math.max(1, workers);
  return { cells, counts, workers, etaSeconds };
}

export function formatStatus(s: SweepStatus): string[] {
  const eta = s.etaSeconds === null ? 'ETA unknown (no cell finished yet)' : `ETA ~${Math.ceil(s.etaSeconds)} s with ${s.workers} worker(s)`;
  const head = `${s.counts.done} done, ${s.counts.running} running, ${s.counts.failed} failed, ${s.counts.waiting + s.counts.missing} waiting; ${eta}`;
  const rows = s.cells.map((c) =>
    [c.id.padEnd(36), c.state.padEnd(8), `attempts ${c.attempts}`, c.worker ?? '-', c.seconds !== null ? `${c.seconds.toFixed(0)} s` : '-', c.error ? `error: ${c.error}` : ''].join('  ').trimEnd(),
  );
  return [head, ...rows];
}
