import type { Queue } from 'bullmq';
import { CellResultSchema, type CellJobData } from './cell-job';
import type { QueuedCell } from './enqueue';
import { readCellResult, writeCellResult } from './results';

export interface FollowResult {
  completed: string[];
  failed: { id: string; reason: string }[];
  interrupted: boolean;
}

/**
 * Poll the cells' jobs until each is completed or failed; each completed cell's result is written
 * to <dir>/results/<id>.json once (so a restarted coordinator neither loses nor repeats one).
 * A job missing from Redis (a restart without persistence) is enqueued again by `requeue`.
 */
export async function followCells(
  queue: Queue<CellJobData>,
  sweep: { dir: string; cells: QueuedCell[] },
  opts: { pollMs: number; onLog: (s: string) => void; requeue: (c: QueuedCell) => Promise<void>; stop: () => boolean },
): Promise<FollowResult> {
  const out: FollowResult = { completed: [], failed: [], interrupted: false };
  const pending = new Map(sweep.cells.map((c) => [c.cell.id, c]));
  for (const id of [...pending.keys()]) {
    if (readCellResult(sweep.dir, id)) {
      out.completed.push(id);
      pending.delete(id);
    }
  }
  let lastLine = '';
  while (pending.size > 0) {
    if (opts.stop()) return { ...out, interrupted: true };
    const counts = { running: 0, waiting: 0 };
    for (const [id, q] of pending) {
      const job = await queue.getJob(q.jobId);
      if (!job) {
        opts.onLog(`cell ${id}: job ${q.jobId} is missing from Redis (restarted without persistence?); enqueued again`);
        await opts.requeue(q);
        counts.waiting += 1;
        continue;
      }
      const state = await job.getState();
      if (state === 'completed') {
        // Read again: `job` may predate the completion (getJob, then the job finished, then getState).
        const done = await queue.getJob(q.jobId);
        const parsed = CellResultSchema.safeParse(done?.returnvalue);
        if (!parsed.success || parsed.data.cellId !== id) {
          out.failed.push({ id, reason: `job ${q.jobId} returned something that is not this cell's result; not used` });
        } else {
          writeCellResult(sweep.dir, parsed.data);
          out.completed.push(id);
          opts.onLog(`cell ${id}: done by ${parsed.data.worker} (${out.completed.length}/${sweep.cells.length})`);
        }
        pending.delete(id);
      } else if (state === 'failed') {
        out.failed.push({ id, reason: job.failedReason ?? 'unknown' });
        opts.onLog(`cell ${id}: failed after ${job.attemptsMade} attempt(s): ${job.failedReason}`);
        pending.delete(id);
      } else if (state === 'active') counts.running += 1;
      else counts.waiting += 1;
    }
    const line = `${out.completed.length} done, ${counts.running} running, ${counts.waiting} waiting, ${out.failed.length} failed`;
    if (line !== lastLine && pending.size > 0) opts.onLog(line);
    lastLine = line;
    if (pending.size > 0) await new Promise((r) => setTimeout(r, opts.pollMs));
  }
  return out;
}
