/**
 * Tasks from JSONL files on disk: one JSON object per line with a problem and a reference answer
 * (MATH500-style `{"problem": ..., "answer": ...}` by default). Completions are checked with the
 * normalizing answer matcher in ./answer.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { z } from 'zod';
import { type AnswerFormat, answersMatch, extractAnswer } from './answer';
import { createTaskRng } from './rng';
import type { SplitName, Task, TaskExample, Verdict } from './task';
import { decodeUtf8Strict } from './utf8';

export const JsonlTaskOptionsShape = z.object({
  name: z.string().min(1).optional().meta({ description: 'Task name; defaults to the file name without .jsonl.' }),
  problemField: z.string().min(1).default('problem'),
  answerField: z.string().min(1).default('answer'),
  idField: z.string().min(1).optional().meta({ description: 'Field holding a unique id; defaults to <name>-<line>.' }),
  format: z.enum(['boxed', 'hash', 'auto']).default('auto').meta({
    description: "Where completions put the answer: \\boxed{..}, '#..$', or auto (boxed, then #..$, then 'The answer is ..').",
  }),
  skipBadLines: z.boolean().default(false).meta({ description: 'Skip (and count) invalid lines instead of failing on the first.' }),
  split: z.enum(['train', 'test', 'probe']).default('test').meta({ description: 'Split that receives every line (unless splitTestFraction is set).' }),
  splitTestFraction: z.number().gt(0).lt(1).optional().meta({
    description: 'If set, this fraction of lines (seeded shuffle) becomes test and the rest train; overrides split.',
  }),
  seed: z.number().int().default(0),
  promptTemplate: z.string().default('{problem}').meta({ description: "Prompt text; '{problem}' is replaced by the problem." }),
  tolerance: z.number().min(0).optional().meta({ description: 'Relative numeric tolerance when comparing answers (default: exact up to float noise).' }),
  maxCompletionLength: z.number().int().positive().default(1024),
  stopSequences: z.array(z.string().min(1)).optional().meta({ description: "Defaults to ['$'] for format hash, none otherwise." }),
});

export function checkJsonlOptions(o: { promptTemplate: string }, ctx: z.RefinementCtx): void {
  if (!o.promptTemplate.includes('{problem}')) {
    ctx.addIssue({ code: 'custom', path: ['promptTemplate'], message: `promptTemplate must contain '{problem}' (got '${o.promptTemplate}')` });
  }
}

export const JsonlTaskOptionsSchema = JsonlTaskOptionsShape.superRefine(checkJsonlOptions);
export type JsonlTaskOptions = z.output<typeof JsonlTaskOptionsSchema>;
export type JsonlTaskOptionsInput = z.input<typeof JsonlTaskOptionsSchema>;

export interface SkippedLine {
  line: number;
  reason: string;
}

const typeName = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

/** A task whose examples come from a JSONL file (implements `Task`). */
export class JsonlTask implements Task {
  readonly name: string;
  readonly stopSequences: readonly string[];
  readonly maxCompletionLength: number;
  /** Lines skipped because they were invalid (skipBadLines only), with reasons. */
  readonly skipped: readonly SkippedLine[];
  private readonly splits: Record<SplitName, TaskExample[]>;

  constructor(
    readonly file: string,
    readonly options: JsonlTaskOptions,
    examples: TaskExample[],
    skipped: SkippedLine[],
  ) {
    this.name = options.name ?? basename(file).replace(/\.jsonl$/i, '');
    this.stopSequences = options.stopSequences ?? (options.format === 'hash' ? ['$'] : []);
    this.maxCompletionLength = options.maxCompletionLength;
    this.skipped = skipped;
    this.splits = { train: [], test: [], probe: [] };
    if (options.splitTestFraction !== undefined) {
      const order = examples.map((_, i) => i);
      const rng = createTaskRng(options.seed, 'jsonl', this.name);
      for (let i = order.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [order[i], order[j]] = [order[j] as number, order[i] as number];
      }
      const nTest = Math.round(options.splitTestFraction * examples.length);
      order.forEach((idx, rank) => this.splits[rank < nTest ? 'test' : 'train'].push(examples[idx] as TaskExample));
    } else {
      this.splits[options.split] = examples;
    }
  }

  /** Number of lines skipped by skipBadLines. */
  get skippedLines(): number {
    return this.skipped.length;
  }

  split(name: SplitName): readonly TaskExample[] {
    return this.splits[name];
  }

  extractAnswer(completion: string): string | null {
    return extractAnswer(completion, this.options.format as AnswerFormat);
  }

  verify(completion: string, example: TaskExample): Verdict {
    const extracted = this.extractAnswer(completion);
    const correct = extracted !== null && answersMatch(extracted, example.answer, { tolerance: this.options.tolerance });
    return { correct, extracted, formatOk: extracted !== null };
  }
}

/**
 * Parses JSONL text. `file` is only used in messages ("data.jsonl:7: field 'answer' is missing; ...").
 * Blank lines are ignored; anything else that is not a valid example fails, or is skipped and
 * counted with skipBadLines.
 */
export function parseJsonlTask(text: string, file: string, options: JsonlTaskOptionsInput = {}): JsonlTask {
  const parsed = JsonlTaskOptionsSchema.safeParse(options);
  if (!parsed.success) throw new Error(`${file}: JSONL task options: ${z.prettifyError(parsed.error)}`);
  const o = parsed.data;
  const fieldHint: Record<string, string> = { [o.problemField]: 'problemField', [o.answerField]: 'answerField' };
  if (o.idField) fieldHint[o.idField] = 'idField';
  const LineSchema = z.object({
    [o.problemField]: z.string().trim().min(1, 'is empty'),
    [o.answerField]: z
      .union([z.string(), z.number()], { error: 'must be a string or a number' })
      .refine((v) => String(v).trim().length > 0, { message: 'is empty' }),
    ...(o.idField ? { [o.idField]: z.union([z.string().min(1), z.number()], { error: 'must be a string or a number' }) } : {}),
  });
  const name = o.name ?? basename(file).replace(/\.jsonl$/i, '');
  const examples: TaskExample[] = [];
  const skipped: SkippedLine[] = [];
  const ids = new Set<string>();
  const lines = text.split(/\r?\n/);

  lines.forEach((raw, i) => {
    const lineNo = i + 1;
    if (raw.trim() === '') return;
    const fail = (reason: string): void => {
      if (!o.skipBadLines) throw new Error(`${file}:${lineNo}: ${reason}`);
      skipped.push({ line: lineNo, reason });
    };
    let obj: unknown;
    try {
      obj = JSON.parse(raw);
    } catch (err) {
      return fail(`invalid JSON (${(err as Error).message}); each line must be one JSON object`);
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
      return fail(`expected a JSON object, got ${typeName(obj)}`);
    }
    for (const field of Object.keys(fieldHint)) {
      if (!(field in obj)) {
        return fail(`field '${field}' is missing; set ${fieldHint[field]} if your file names it differently`);
      }
    }
    const result = LineSchema.safeParse(obj);
    if (!result.success) {
      const issue = result.error.issues[0]!;
      const field = String(issue.path[0] ?? '');
      const value = (obj as Record<string, unknown>)[field];
      return fail(`field '${field}' ${issue.message} (got ${typeName(value)})`);
    }
    const row = result.data as Record<string, string | number>;
    const id = o.idField ? String(row[o.idField]) : `${name}-${lineNo}`;
    if (ids.has(id)) return fail(`duplicate id '${id}' in field '${o.idField}'`);
    ids.add(id);
    const problem = String(row[o.problemField]);
    examples.push({
      id,
      prompt: o.promptTemplate.split('{problem}').join(problem),
      answer: String(row[o.answerField]).trim(),
      meta: { line: lineNo, problem },
    });
  });

  if (examples.length === 0) {
    throw new Error(`${file}: no usable examples (${skipped.length} bad lines skipped, ${lines.length} lines in total); check problemField/answerField`);
  }
  return new JsonlTask(file, o, examples, skipped);
}

/** Reads a JSONL dataset from disk (see `parseJsonlTask`). */
export function loadJsonlTask(path: string, options: JsonlTaskOptionsInput = {}): JsonlTask {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new Error(`${path}: cannot read JSONL task file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); check the task's 'path'`);
  }
  return parseJsonlTask(decodeUtf8Strict(bytes, path), path, options);
}
