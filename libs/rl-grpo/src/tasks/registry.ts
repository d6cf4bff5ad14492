/**
 * Task registry: `{ type: 'modchain', ...knobs }` -> Task. Built-in types are modchain,
 * word-problems and jsonl; `registerTask` adds more by name (e.g. from a plugin or a user script).
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { JsonlTaskOptionsShape, checkJsonlOptions, loadJsonlTask } from './jsonl';
import { ModchainConfigShape, ModchainTask, checkModchainConfig } from './modchain';
import type { Task } from './task';
import { WordProblemsConfigShape, WordProblemsTask } from './word-problems';

export const ModchainSpecSchema = z
  .object({ type: z.literal('modchain'), ...ModchainConfigShape.shape })
  .superRefine(checkModchainConfig);
export const WordProblemsSpecSchema = z.object({ type: z.literal('word-problems'), ...WordProblemsConfigShape.shape });
export const JsonlSpecSchema = z
  .object({
    type: z.literal('jsonl'),
    path: z.string().min(1).meta({ description: 'JSONL file; relative paths resolve against baseDir (the config file directory).' }),
    ...JsonlTaskOptionsShape.shape,
  })
  .superRefine(checkJsonlOptions);

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
builtin('jsonl', JsonlSpecSchema, ({ type: _t, path, ...options }, ctx) =>
  loadJsonlTask(resolve(ctx.baseDir ?? process.cwd(), path), options),
);

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
    if (!parsed.success) throw new Error(`task spec (type '${type}'): ${z.prettifyError(parsed.error)}`);
    value = parsed.data as { type: string } & Record<string, unknown>;
  }
  return reg.factory(value, ctx);
}
