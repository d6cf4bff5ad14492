// Schemas of the files a run directory keeps (stage-state.json, config.json) and a reader that
// refuses a missing, truncated or malformed file with its path and the fix, never a raw
// "Unexpected end of JSON input" (issue 12).
import { readFileSync, statSync } from 'node:fs';
import { z } from 'zod';

export const StageRecordSchema = z
  .object({
    id: z.string().min(1),
    kind: z.string().min(1),
    status: z.enum(['pending', 'running', 'completed']),
    wallMs: z.number().min(0).meta({ description: 'wall time summed over attempts (an attempt killed with -9 is not counted)' }),
    lastCheckpoint: z
      .object({
        step: z.number().int().min(0),
        path: z.string().min(1).meta({ description: 'relative to the run directory (absolute in files written before relocatable runs)' }),
        files: z
          .record(z.string(), z.number().int().min(0))
          .optional()
          .meta({ description: 'size in bytes of every file of the checkpoint folder when it was recorded; resume checks them' }),
      })
      .strict()
      .optional(),
    policyChanged: z.boolean().optional().meta({ description: "true when the stage's finished policy is not its input policy (resume must load a checkpoint)" }),
    outputPolicy: z.string().optional(),
    // JSON.stringify writes NaN as null; read it back as NaN so summaries keep their number type.
    summary: z.record(z.string(), z.number().nullable().transform((v) => v ?? NaN)).optional(),
    result: z.unknown().optional().meta({ description: "the stage's JSON result (e.g. a selection ranking), handed to later stages as previous" }),
  })
  .strict();
export type StageRecord = z.infer<typeof StageRecordSchema>;

/** stage-state.json: what a resume needs. `eventsBytes` = length of events.jsonl at the last durable point. */
export const RunStateSchema = z
  .object({
    version: z.literal(1),
    stages: z.array(StageRecordSchema),
    boundaries: z.array(z.string()).meta({ description: 'diagnostics boundaries already recorded ("start", "after:<id>")' }),
    eventsBytes: z.number().int().min(0),
    finished: z.boolean(),
    interrupted: z.boolean().optional(),
    failed: z.string().optional(),
  })
  .strict();
export type RunState = z.infer<typeof RunStateSchema>;

/** config.json: everything needed to re-run or resume. */
export const RunRecordSchema = z
  .object({
    name: z.string().min(1),
    createdAt: z.string(),
    pipeline: z.record(z.string(), z.unknown()).meta({ description: 'resolved pipeline file (every default filled); parsePipelineConfig accepts it again' }),
    seed: z.number().int(),
    git: z.object({ commit: z.string(), dirty: z.boolean() }).strict().nullable(),
    versions: z.object({ node: z.string(), packages: z.record(z.string(), z.string()) }).strict(),
    backend: z.unknown(),
    argv: z.array(z.string()),
    machine: z
      .object({ platform: z.string(), arch: z.string(), cpu: z.string(), cores: z.number(), memoryGb: z.number() })
      .strict()
      .optional()
      .meta({ description: 'where the run ran (absent in runs recorded before it was added)' }),
  })
  .strict();
export type RunRecord = z.infer<typeof RunRecordSchema>;

/** A problem with one file of a run directory; the message names the file and what to do. */
export class RunFileError extends Error {
  override readonly name = 'RunFileError';
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: ${detail}`);
  }
}

/** Text of a file that must be a regular file: missing, a directory, or unreadable become RunFileErrors. */
export function readRunFileText(file: string, what: string): string {
  let stat;
  try {
    stat = statSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new RunFileError(file, `missing ${what}; the run directory is incomplete (restore the file from a copy of the run, or start the run again)`);
    if (code === 'ENOTDIR') throw new RunFileError(file, `a parent of this path is a file, not a folder; give the run directory itself`);
    throw new RunFileError(file, `cannot read ${what} (${code ?? (err as Error).message})`);
  }
  if (stat.isDirectory()) throw new RunFileError(file, `expected the ${what} file but found a directory; remove it and restore the file`);
  return readFileSync(file, 'utf8');
}

/** Parses and validates one JSON state file of a run directory. */
export function readRunJson<S extends z.ZodType>(file: string, schema: S, what: string): z.infer<S> {
  const text = readRunFileText(file, what);
  if (text.trim() === '') throw new RunFileError(file, `${what} is empty (a write was cut short); restore the file from a copy of the run`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new RunFileError(file, `${what} is not valid JSON (${(err as Error).message}); the file is truncated or was edited by hand`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(top level)'}: ${i.message}`).slice(0, 5);
    throw new RunFileError(file, `invalid ${what}: ${issues.join('; ')}`);
  }
  return parsed.data;
}
