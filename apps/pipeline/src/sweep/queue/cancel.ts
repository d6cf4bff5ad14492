import type { Queue } from 'bullmq';
import type { CellJobData } from './cell-job';

/**
 * Remove every job of sweep `name` from the queue, whatever code version enqueued it (a stale
 * sweep's jobs would otherwise be refused by current workers forever). Running cells cannot be
 * removed; they are counted and left to finish. Results already in the sweep directory stay.
 */
export async function cancelSweepJobs(queue: Queue<CellJobData>, name: string): Promise<{ removed: number; running: string[] }> {
  const jobs = await queue.getJobs(['wait', 'delayed', 'prioritized', 'paused', 'failed', 'completed', 'active']);
  let removed = 0;
  const running: string[] = [];
  for (const job of jobs) {
    if (!job || (job.data as Partial<CellJobData> | undefined)?.sweep !== name) continue;
    if ((await job.getState()) === 'active') {
      running.push(String(job.data.cellId));
      continue;
    }
    await job.remove();
    removed += 1;
  }
  return { removed, running };
}
