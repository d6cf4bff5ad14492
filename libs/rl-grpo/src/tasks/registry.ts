/**
 * Task registry: `{ type: 'modchain', ...knobs }` -> Task. Built-in types are modchain,
 * word-problems and jsonl; `registerTask` adds more by name (e.g. from a plugin or a user script).
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { JsonlTaskOptionsShape, checkJsonlOptions, loadJsonlTaskFiles } from './jsonl';
import { ModchainConfigShape, ModchainTask, checkModchainConfig } from './modchain';
import { formatSpecIssues, schemaKeys } from './spec-errors';
import type { Task } from './task';
import { WordProblemsConfigShape, WordProblemsTask } from './word-problems';

// Strict: an unknown option (`testsize: 5`) is an error with a did-you-mean, never silently ignored.
export const ModchainSpecSchema = z
  .object({ type: z.literal('modchain'), ...ModchainConfigShape.shape })
  .strict()
  .superRefine(checkModchainConfig);
export const WordProblemsSpecSchema = z.object({ type: z.literal('word-problems'), ...WordProblemsConfigShape.shape }).strict();
const jsonlPath = (what: string) =>
  z.string().min(1).optional().meta({ description: `${what}; relative paths resolve against baseDir (the config file directory).` });

export const JsonlSpecSchema = z
  .object({
    type: z.literal('jsonl'),
    path: jsonlPath('One JSONL file, split into train/test by split or splitTestFraction (default: seeded 20% test)'),
    train: jsonlPath('JSONL file of the train split (with test: / probe:, instead of path)'),
    test: jsonlPath('JSONL file of the test split'),
    probe: jsonlPath('JSONL file of the probe split (diagnostics; default: the test split)'),
    ...JsonlTaskOptionsShape.shape,
  })
  .strict()
  .superRefine((o, ctx) => {
    checkJsonlOptions(o, ctx);
    const perSplit = (['train', 'test', 'probe'] as const).filter((k) => o[k] !== undefined);
    if (o.path === undefined && perSplit.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['path'], message: "give 'path' (one file) or 'train' / 'test' / 'probe' (one file per split)" });
    }
    if (o.path !== undefined && perSplit.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['path'], message: `give 'path' or per-split files (${perSplit.join(', ')}), not both` });
    }
    if (perSplit.length > 0 && (o.split !== undefined || o.splitTestFraction !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['split'], message: 'split / splitTestFraction apply to a single path; with per-split files each file is its split' });
    }
  });

/** Built-in task specs (a discriminated union on `type`). Registered types are validated by their own schema. */
export const BuiltinTaskSpecSchema = z.discriminatedUnion('type', [ModchainSpecSchema, WordProblemsSpecSchema, JsonlSpecSchema]);
export type BuiltinTaskSpecInput = z.input<typeof BuiltinTaskSpecSchema>;

/**
 * The one task spec of emrl (pipeline files, the CLI's --task, createTask): a registered `type`
 * plus that task's options, which `createTask` validates with the type's own schema.
 */
export const TaskSpecSchema = z.object({ type: z.string().min(1).meta({ description: 'a registered task type: modchain, word-problems, jsonl, or your own' }) }).passthrough();
export type TaskSpec = z.infer<typeof TaskSpecSchema>;

export interface CreateTaskContext {
  /** Directory that relative paths (jsonl `path`) resolve against; defaults to process.cwd(). */
  baseDir?: string;
}

/** Builds a task from a spec (already validated by `schema` when one was registered). */
export type TaskFactory = (spec: { type: string } & Record<string, unknown>, ctx: CreateTaskContext) => Task;

interface Registration {
  factory: TaskFactory;
  schema?: z.ZodType;
}

const registry = new Map<string, Registration>();

function builtin<S extends z.ZodType>(type: string, schema: S, build: (spec: z.output<S>, ctx: CreateTaskContext) => Task): void {
  registry.set(type, { schema, factory: (spec, ctx) => build(spec as z.output<S>, ctx) });
}

builtin('modchain', ModchainSpecSchema, ({ type: _t, ...knobs }) => new ModchainTask(knobs));
builtin('word-problems', WordProblemsSpecSchema, ({ type: _t, ...knobs }) => new WordProblemsTask(knobs));
builtin('jsonl', JsonlSpecSchema, ({ type: _t, path, train, test, probe, ...options }, ctx) => {
  const at = (p: string | undefined) => (p === undefined ? undefined : resolve(ctx.baseDir ?? process.cwd(), p));
  return loadJsonlTaskFiles({ path: at(path), train: at(train), test: at(test), probe: at(probe) }, options);
});

/**
 * Adds a task type. With `schema`, specs are validated (and defaulted) before `factory` sees them.
 * Re-registering an existing type (built-ins included) needs `{ override: true }`.
 * Returns a function that undoes the registration (restoring the one it replaced, if any).
 */
export function registerTask(
  type: string,
  factory: TaskFactory,
  opts: { schema?: z.ZodType; override?: boolean } = {},
): () => void {
  if (!/^[a-z][a-z0-9-]*$/.test(type)) {
    throw new Error(`registerTask: type '${type}' must be kebab-case (lowercase letters, digits, '-'), e.g. 'my-task'`);
  }
  if (registry.has(type) && !opts.override) {
    throw new Error(`registerTask: task type '${type}' is already registered; pass { override: true } to replace it`);
  }
  const previous = registry.get(type);
  const registration: Registration = { factory, schema: opts.schema };
  registry.set(type, registration);
  return () => {
    if (registry.get(type) !== registration) return;
    if (previous) registry.set(type, previous);
    else registry.delete(type);
  };
}

/** Names of every registered task type (built-ins first). */
export function registeredTaskTypes(): string[] {
  return [...registry.keys()];
}

/** Validates a spec and builds its task. Errors name the spec field and the fix. */
export function createTask(spec: BuiltinTaskSpecInput | TaskSpec, ctx: CreateTaskContext = {}): Task {
  const type = (spec as { type?: unknown }).type;
  if (typeof type !== 'string') {
    throw new Error(`task spec: field 'type' is missing; use one of: ${registeredTaskTypes().join(', ')}`);
  }
  const reg = registry.get(type);
  if (!reg) {
    throw new Error(`task spec: unknown task type '${type}'; known types: ${registeredTaskTypes().join(', ')} (add one with registerTask('${type}', factory))`);
  }
  let value = spec as { type: string } & Record<string, unknown>;
  if (reg.schema) {
    const parsed = reg.schema.safeParse(spec);
    if (!parsed.success) throw new Error(`task spec (type '${type}'): ${formatSpecIssues(parsed.error.issues, schemaKeys(reg.schema)).join('; ')}`);
    value = parsed.data as { type: string } & Record<string, unknown>;
  }
  return reg.factory(value, ctx);
}

/**
 * Schema problems of a task spec without building the task (no file is read), one line each, e.g.
 * for checking a pipeline file at parse time. Unknown types, and registered types without a
 * schema, give no problems here (createTask reports them when the task is built).
 */
export function checkTaskSpec(spec: unknown): string[] {
  const type = spec !== null && typeof spec === 'object' ? (spec as { type?: unknown }).type : undefined;
  const reg = typeof type === 'string' ? registry.get(type) : undefined;
  if (!reg?.schema) return [];
  const parsed = reg.schema.safeParse(spec);
  return parsed.success ? [] : formatSpecIssues(parsed.error.issues, schemaKeys(reg.schema));
}
