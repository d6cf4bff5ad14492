import { createHash } from 'node:crypto';
import { z } from 'zod';

/** The BullMQ queue every emrl sweep uses (sweeps are told apart by their job ids and `sweep`). */
export const CELL_QUEUE = 'emrl-cells';

/** What travels to a worker for one cell. Workers validate it before touching the pipeline. */
export const CellJobDataSchema = z
  .object({
    sweep: z.string().regex(/^[A-Za-z0-9._-]+$/).meta({ description: 'sweep name (folder name of its outputs)' }),
    cellId: z.string().regex(/^[A-Za-z0-9._-]+$/).meta({ description: 'cell id, e.g. em-then-grpo_seed-1' }),
    codeVersion: z.string().min(1).meta({ description: 'git commit (+ dirty-diff hash) the coordinator runs; workers refuse others' }),
    pipeline: z.record(z.string(), z.unknown()).meta({ description: 'the resolved pipeline file data of the cell' }),
    artifacts: z.string().nullable().meta({ description: 'shared directory for cell run directories, or null for the worker\'s own --work-dir' }),
  })
  .strict();
export type CellJobData = z.infer<typeof CellJobDataSchema>;

const FiniteOrNull = z.number().nullable(); // JSON turns NaN / Infinity into null

/** What a worker reports back for a finished cell: enough to write the sweep report remotely. */
export const CellResultSchema = z
  .object({
    cellId: z.string(),
    worker: z.string().meta({ description: 'host:pid of the worker that finished the cell' }),
    runDir: z.string().meta({ description: 'the cell run directory on that worker (or in the shared artifacts dir)' }),
    summary: z.record(z.string(), z.unknown()).meta({ description: 'the cell\'s RunSummary (summary.json rows)' }),
    metrics: z.record(z.string(), FiniteOrNull).meta({ description: 'headline metrics, as cellMetrics() computes them' }),
  })
  .strict();
export type CellResult = z.infer<typeof CellResultSchema>;

/** JSON with object keys sorted at every depth, so equal data always hashes equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * Stable BullMQ job id of a cell: a hash of its resolved pipeline and the code version, so
 * enqueueing the same sweep twice adds nothing and a code or config change makes new jobs.
 */
export function cellJobId(pipeline: Record<string, unknown>, version: string): string {
  return `cell-${createHash('sha256').update(canonicalJson({ pipeline, codeVersion: version })).digest('hex').slice(0, 32)}`;
}
