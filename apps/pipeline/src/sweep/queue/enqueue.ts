import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Queue } from 'bullmq';
import { writeFileAtomicSync } from '../../atomic-write';
import { parsePipelineConfig } from '../../config/load-config';
import type { StageRegistry } from '../../config/stage-registry';
import { SWEEP_FILE, type SweepRecord } from '../run-sweep';
import { expandSweep, loadSweepConfig, type SweepCell } from '../sweep-config';
import { cellJobId, type CellJobData } from './cell-job';
import { readCellResult, writeQueueRecord, type QueueRecord } from './results';

export interface QueuedCell {
  cell: SweepCell;
  jobId: string;
}

/** Expand and validate the grid like a local sweep, then (unless dryRun) write sweep.json + queue.json. */
export function prepareQueuedSweep(opts: { file: string; registry: StageRegistry; root?: string; dir?: string; version: string; queueDisplay: string; artifacts: string | null; dryRun?: boolean }): {
  dir: string;
  name: string;
  cells: QueuedCell[];
} {
  const { config, base, baseFile } = loadSweepConfig(opts.file);
  const cells = expandSweep(config, base, opts.file);
  for (const c of cells) parsePipelineConfig(c.pipeline, `${opts.file} (cell ${c.id})`, opts.registry);
  const name = config.name ?? 'sweep';
  const dir = resolve(opts.dir ?? join(opts.root ?? 'runs', name));
  const queued = cells.map((cell) => ({ cell, jobId: cellJobId(cell.pipeline, opts.version) }));
  if (opts.dryRun) return { dir, name, cells: queued };
  mkdirSync(join(dir, 'cells'), { recursive: true });
  const record: SweepRecord = { name, sweepFile: resolve(opts.file), baseFile, config, cells };
  writeFileAtomicSync(join(dir, SWEEP_FILE), JSON.stringify(record, null, 2) + '\n');
  const qr: QueueRecord = { queue: opts.queueDisplay, codeVersion: opts.version, artifacts: opts.artifacts, jobs: Object.fromEntries(queued.map((q) => [q.cell.id, q.jobId])) };
  writeQueueRecord(dir, qr);
  return { dir, name, cells: queued };
}

/**
 * Add one job per cell not yet reported back. Job ids are stable, so adding an existing job
 * (waiting, running, done or failed) is a no-op; `retryFailed` sends failed ones round again.
 */
export async function enqueueCells(
  queue: Queue<CellJobData>,
  sweep: { dir: string; name: string; cells: QueuedCell[] },
  opts: { version: string; artifacts: string | null; attempts: number; retryFailed: boolean },
): Promise<{ added: number; retried: number; alreadyDone: number }> {
  let added = 0;
  let retried = 0;
  let alreadyDone = 0;
  for (const { cell, jobId } of sweep.cells) {
    if (readCellResult(sweep.dir, cell.id)) {
      alreadyDone += 1;
      continue;
    }
    const existing = await queue.getJob(jobId);
    if (existing) {
      if (opts.retryFailed && (await existing.getState()) === 'failed') {
        await existing.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
        retried += 1;
      }
      continue;
    }
    const data: CellJobData = { sweep: sweep.name, cellId: cell.id, codeVersion: opts.version, pipeline: cell.pipeline, artifacts: opts.artifacts };
    await queue.add(cell.id, data, { jobId, attempts: opts.attempts, backoff: { type: 'fixed', delay: 1000 }, removeOnComplete: false, removeOnFail: false });
    added += 1;
  }
  return { added, retried, alreadyDone };
}
