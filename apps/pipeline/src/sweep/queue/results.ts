import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomicSync } from '../../atomic-write';
import { CellResultSchema, type CellResult } from './cell-job';

/** queue.json in a sweep directory: where its jobs went, so status and restarts find them again. */
export const QueueRecordSchema = z
  .object({
    queue: z.string().meta({ description: 'the --queue URL without password' }),
    codeVersion: z.string(),
    artifacts: z.string().nullable(),
    jobs: z.record(z.string(), z.string()).meta({ description: 'cell id -> BullMQ job id' }),
  })
  .strict();
export type QueueRecord = z.infer<typeof QueueRecordSchema>;

export const QUEUE_FILE = 'queue.json';

export function resultFile(sweepDir: string, cellId: string): string {
  return join(sweepDir, 'results', `${cellId}.json`);
}

/** A finished cell's result as the coordinator received it from the queue, or null. */
export function readCellResult(sweepDir: string, cellId: string): CellResult | null {
  const file = resultFile(sweepDir, cellId);
  if (!existsSync(file)) return null;
  const parsed = CellResultSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) throw new Error(`${file}: not a cell result (${z.prettifyError(parsed.error)}); delete it and rerun the sweep to fetch it again`);
  return parsed.data;
}

export function writeCellResult(sweepDir: string, result: CellResult): void {
  mkdirSync(join(sweepDir, 'results'), { recursive: true });
  writeFileAtomicSync(resultFile(sweepDir, result.cellId), JSON.stringify(result, null, 2) + '\n');
}

/** Metrics of a result with JSON's nulls turned back into NaN (as the local report sees them). */
export function resultMetrics(r: CellResult): Record<string, number> {
  return Object.fromEntries(Object.entries(r.metrics).map(([k, v]) => [k, v ?? Number.NaN]));
}

export function readQueueRecord(sweepDir: string): QueueRecord | null {
  const file = join(sweepDir, QUEUE_FILE);
  if (!existsSync(file)) return null;
  const parsed = QueueRecordSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) throw new Error(`${file}: ${z.prettifyError(parsed.error)}; delete it and rerun "emrl sweep ... --queue" to rewrite it`);
  return parsed.data;
}

export function writeQueueRecord(sweepDir: string, record: QueueRecord): void {
  writeFileAtomicSync(join(sweepDir, QUEUE_FILE), JSON.stringify(record, null, 2) + '\n');
}
