/**
 * Tasks from JSONL files on disk: one JSON object per line with a problem and a reference answer.
 * Field layouts: generic (`problem` | `prompt` | `question`, `answer`) or a named dataset layout
 * (jsonl-layouts.ts: `format: math500`, ...). A problem is a string or a TRL conversational prompt
 * (a list of {role, content} messages). One file is split into train and test (seeded), or each
 * split has its own file (`train:`, `test:`, `probe:`, as Hugging Face datasets ship them).
 * Completions are checked with the normalizing answer matcher in ./answer.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { ChatMessage } from '@emrl/lm';
import { z } from 'zod';
import { type AnswerFormat, answersMatch, extractAnswer } from './answer';
import { DATASET_FORMATS, readLayoutRow, resolveLayout } from './jsonl-layouts';
import { checkPromptTemplate, conversationMessages, plainPrompt, problemMessages, PromptFormatShape, type ChatTemplateMode } from './prompt-format';
import { createTaskRng } from './rng';
import type { SplitName, Task, TaskExample, Verdict } from './task';
import { decodeUtf8Strict } from './utf8';

/** Test share of a single file when neither `split` nor `splitTestFraction` is given. */
export const DEFAULT_TEST_FRACTION = 0.2;

export const JsonlTaskOptionsShape = z.object({
  name: z.string().min(1).optional().meta({ description: 'Task name; defaults to the file name without .jsonl.' }),
  problemField: z.string().min(1).optional().meta({
    description: "Field holding the problem (a string, or TRL conversational messages); default: the format's, else the first of problem, prompt, question.",
  }),
  answerField: z.string().min(1).optional().meta({ description: "Field holding the reference answer; default: the format's, else answer." }),
  idField: z.string().min(1).optional().meta({ description: "Field holding a unique id; default: the format's, else <file>-<line>." }),
  format: z.enum(['boxed', 'hash', 'auto', ...DATASET_FORMATS]).default('auto').meta({
    description:
      "Where completions put the answer: \\boxed{..}, '#..$', or auto (boxed, then #..$, then 'The answer is ..'). " +
      'A dataset name (math500, minerva-math, olympiadbench, amc23) reads that dataset\'s fields and grades like auto.',
  }),
  skipBadLines: z.boolean().default(false).meta({ description: 'Skip (and count) invalid lines instead of failing on the first.' }),
  split: z.enum(['train', 'test', 'probe']).optional().meta({
    description: `Split that receives every line of a single file. Unset (and no splitTestFraction): a seeded ${DEFAULT_TEST_FRACTION * 100}% test / rest train split.`,
  }),
  splitTestFraction: z.number().gt(0).lt(1).optional().meta({
    description: `Fraction of a single file's lines (seeded shuffle) that becomes test, the rest train; default ${DEFAULT_TEST_FRACTION} unless split is set.`,
  }),
  seed: z.number().int().default(0),
  ...PromptFormatShape.shape,
  tolerance: z.number().min(0).optional().meta({ description: 'Relative numeric tolerance when comparing answers (default: exact up to float noise).' }),
  maxCompletionLength: z.number().int().positive().default(1024),
  stopSequences: z.array(z.string().min(1)).optional().meta({ description: "Defaults to ['$'] for format hash, none otherwise." }),
});

export function checkJsonlOptions(o: { promptTemplate: string; split?: string; splitTestFraction?: number }, ctx: z.RefinementCtx): void {
  checkPromptTemplate(o, ctx);
  if (o.split !== undefined && o.splitTestFraction !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['split'], message: `set split (every line to '${o.split}') or splitTestFraction (a seeded train/test split), not both` });
  }
}

export const JsonlTaskOptionsSchema = JsonlTaskOptionsShape.superRefine(checkJsonlOptions);
export type JsonlTaskOptions = z.output<typeof JsonlTaskOptionsSchema>;
export type JsonlTaskOptionsInput = z.input<typeof JsonlTaskOptionsSchema>;

export interface SkippedLine {
  /** The file (per-split files) and line of the skipped entry. */
  file: string;
  line: number;
  reason: string;
}

/** Examples of one file, before they are assigned to splits. */
export interface JsonlFileRows {
  file: string;
  examples: TaskExample[];
  skipped: SkippedLine[];
}

const stem = (file: string): string => basename(file).replace(/\.jsonl$/i, '');
const typeName = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

/** A task whose examples come from JSONL files (implements `Task`). */
export class JsonlTask implements Task {
  readonly stopSequences: readonly string[];
  readonly maxCompletionLength: number;
  readonly chatTemplate: ChatTemplateMode;
  private readonly messagesById = new Map<string, ChatMessage[]>();

  constructor(
    readonly name: string,
    readonly options: JsonlTaskOptions,
    private readonly splits: Record<SplitName, TaskExample[]>,
    /** Lines skipped because they were invalid (skipBadLines only), with reasons. */
    readonly skipped: readonly SkippedLine[] = [],
  ) {
    this.stopSequences = options.stopSequences ?? (options.format === 'hash' ? ['$'] : []);
    this.maxCompletionLength = options.maxCompletionLength;
    this.chatTemplate = options.chatTemplate;
    for (const ex of Object.values(splits).flat()) if (ex.messages) this.messagesById.set(ex.id, ex.messages);
  }

  /** Number of lines skipped by skipBadLines. */
  get skippedLines(): number {
    return this.skipped.length;
  }

  split(name: SplitName): readonly TaskExample[] {
    return this.splits[name];
  }

  promptMessages(example: TaskExample): ChatMessage[] | undefined {
    return example.messages ?? this.messagesById.get(example.id);
  }

  extractAnswer(completion: string): string | null {
    const f = this.options.format;
    return extractAnswer(completion, (f === 'boxed' || f === 'hash' ? f : 'auto') as AnswerFormat);
  }

  verify(completion: string, example: TaskExample): Verdict {
    const extracted = this.extractAnswer(completion);
    const correct = extracted !== null && answersMatch(extracted, example.answer, { tolerance: this.options.tolerance });
    return { correct, extracted, formatOk: extracted !== null };
  }
}

function parseOptions(options: JsonlTaskOptionsInput, where: string): JsonlTaskOptions {
  const parsed = JsonlTaskOptionsSchema.safeParse(options);
  if (!parsed.success) throw new Error(`${where}: JSONL task options: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/**
 * Parses the lines of one JSONL file into examples. `file` is used in ids (`<file>-<line>`) and
 * messages ("data.jsonl:7: field 'answer' is missing; ..."). Blank lines are ignored; anything else
 * that is not a valid example fails, or is skipped and counted with skipBadLines.
 */
export function parseJsonlRows(text: string, file: string, o: JsonlTaskOptions): JsonlFileRows {
  const layout = resolveLayout(o.format, o);
  const examples: TaskExample[] = [];
  const skipped: SkippedLine[] = [];
  const ids = new Set<string>();
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const lineNo = i + 1;
    if (raw.trim() === '') return;
    const fail = (reason: string): void => {
      if (!o.skipBadLines) throw new Error(`${file}:${lineNo}: ${reason}`);
      skipped.push({ file, line: lineNo, reason });
    };
    let obj: unknown;
    try {
      obj = JSON.parse(raw);
    } catch (err) {
      return fail(`invalid JSON (${(err as Error).message}); each line must be one JSON object`);
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return fail(`expected a JSON object, got ${typeName(obj)}`);
    let row;
    try {
      row = readLayoutRow(obj as Record<string, unknown>, layout);
    } catch (err) {
      return fail((err as Error).message);
    }
    const id = row.id ?? `${stem(file)}-${lineNo}`;
    if (ids.has(id)) return fail(`duplicate id '${id}' in field '${layout.idField}'`);
    ids.add(id);
    const messages = typeof row.problem === 'string' ? problemMessages(row.problem, o) : conversationMessages(row.problem, o);
    const conversational = typeof row.problem !== 'string';
    examples.push({
      id,
      prompt: plainPrompt(messages),
      answer: row.answer,
      // Plain problems without a system prompt are one user message: the prompt text says it all.
      ...(conversational || o.systemPrompt ? { messages } : {}),
      meta: { file, line: lineNo, ...(typeof row.problem === 'string' ? { problem: row.problem } : {}), ...row.meta },
    });
  });
  if (examples.length === 0) {
    throw new Error(`${file}: no usable examples (${skipped.length} bad lines skipped, ${lines.length} lines in total); check the format or problemField/answerField`);
  }
  return { file, examples, skipped };
}

/** Assigns a single file's examples to splits: all to `split`, or a seeded test fraction and the rest train. */
function splitSingleFile(rows: JsonlFileRows, o: JsonlTaskOptions, name: string): Record<SplitName, TaskExample[]> {
  const splits: Record<SplitName, TaskExample[]> = { train: [], test: [], probe: [] };
  if (o.split !== undefined) {
    splits[o.split] = rows.examples;
    return splits;
  }
  const n = rows.examples.length;
  const fraction = o.splitTestFraction ?? DEFAULT_TEST_FRACTION;
  if (n < 2) {
    throw new Error(
      `${rows.file}: ${n} example cannot be split into train and test (splitTestFraction ${fraction}); set split: train (or test), or give separate train: and test: files`,
    );
  }
  const order = rows.examples.map((_, i) => i);
  const rng = createTaskRng(o.seed, 'jsonl', name);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  const nTest = Math.min(n - 1, Math.max(1, Math.round(fraction * n)));
  order.forEach((idx, rank) => splits[rank < nTest ? 'test' : 'train'].push(rows.examples[idx] as TaskExample));
  return splits;
}

/** Parses JSONL text of a single file into a task (see `parseJsonlRows`; splits per the options). */
export function parseJsonlTask(text: string, file: string, options: JsonlTaskOptionsInput = {}): JsonlTask {
  const o = parseOptions(options, file);
  const rows = parseJsonlRows(text, file, o);
  const name = o.name ?? stem(file);
  return new JsonlTask(name, o, splitSingleFile(rows, o, name), rows.skipped);
}

function readJsonlFile(path: string, field: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new Error(`${path}: cannot read JSONL task file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); check the task's '${field}'`);
  }
  return decodeUtf8Strict(bytes, path);
}

/** Reads a single-file JSONL dataset from disk (see `parseJsonlTask`). */
export function loadJsonlTask(path: string, options: JsonlTaskOptionsInput = {}): JsonlTask {
  return parseJsonlTask(readJsonlFile(path, 'path'), path, options);
}

/** Paths of the JSONL files of a task: one `path` to split, or one file per split. */
export interface JsonlFiles {
  path?: string;
  train?: string;
  test?: string;
  probe?: string;
}

/**
 * Loads a JSONL task from one file (`path`) or from per-split files (`train`, `test`, `probe`), e.g.
 * GRPO on a train file and evaluation on a test file in one pipeline. Ids must be unique across
 * different files; one file may serve several splits.
 */
export function loadJsonlTaskFiles(files: JsonlFiles, options: JsonlTaskOptionsInput = {}): JsonlTask {
  const perSplit = (['train', 'test', 'probe'] as const).filter((s) => files[s] !== undefined);
  if (files.path !== undefined) {
    if (perSplit.length > 0) throw new Error(`JSONL task: give either 'path' (one file, split by the options) or per-split files (${perSplit.join(', ')}), not both`);
    return loadJsonlTask(files.path, options);
  }
  if (perSplit.length === 0) throw new Error("JSONL task: no file; set 'path' (one file) or 'train' / 'test' / 'probe' (one file per split)");
  const first = files[perSplit[0]!]!;
  const o = parseOptions(options, first);
  if (o.split !== undefined || o.splitTestFraction !== undefined) {
    throw new Error(`${first}: split / splitTestFraction apply to a single 'path' file; with per-split files each file is its split, so remove them`);
  }
  const splits: Record<SplitName, TaskExample[]> = { train: [], test: [], probe: [] };
  const skipped: SkippedLine[] = [];
  const seen = new Map<string, string>();
  for (const s of perSplit) {
    const path = files[s]!;
    const rows = parseJsonlRows(readJsonlFile(path, s), path, o);
    for (const ex of rows.examples) {
      const other = seen.get(ex.id);
      // The same file in two splits (e.g. train and test on one prompt) repeats its own ids.
      if (other !== undefined && other !== path) throw new Error(`${path}: id '${ex.id}' is also in ${other}; ids must be unique across the task's files (set idField to a unique field, or leave it unset)`);
      seen.set(ex.id, path);
    }
    splits[s] = rows.examples;
    skipped.push(...rows.skipped);
  }
  return new JsonlTask(o.name ?? stem(first), o, splits, skipped);
}
