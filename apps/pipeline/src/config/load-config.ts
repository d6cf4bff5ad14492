import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { checkTaskSpec, decodeUtf8Strict, type Stage } from '@emrl/rl-grpo';
import { ConfigError, formatIssues } from './config-error';
import { applyTrlAliases } from './apply-aliases';
import { crossStageProblems, type IndexedStage } from './cross-stage-checks';
import { didYouMean } from './did-you-mean';
import { findDuplicateJsonKeys } from './json-duplicate-keys';
import { defaultOf } from './schema-fields';
import { PipelineFileSchema, type PipelineConfig, type StageSpec } from './pipeline-schema';
import { BUILTIN_STAGE_KINDS, type StageRegistry, stageRegistry } from './stage-registry';
import { aliasTableFor } from './trl-aliases';

/** Parse YAML (or JSON, by extension) text into plain data; syntax errors name file, line and column. */
export function parseConfigText(text: string, file: string): unknown {
  if (extname(file).toLowerCase() === '.json') {
    let data: unknown;
    try {
      data = JSON.parse(text) as unknown;
    } catch (e) {
      throw new ConfigError(file, [`invalid JSON: ${(e as Error).message}`]);
    }
    const dups = findDuplicateJsonKeys(text);
    if (dups.length > 0) {
      throw new ConfigError(
        file,
        dups.map((d) => `duplicate key "${d.key}"${d.path ? ` in ${d.path}` : ''} at line ${d.line}, column ${d.column}; JSON keeps only the last one, so remove one of them`),
      );
    }
    return data;
  }
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => `YAML syntax error at line ${e.linePos?.[0]?.line ?? '?'}, column ${e.linePos?.[0]?.col ?? '?'}: ${e.message.split('\n')[0]}`),
    );
  }
  return doc.toJS() as unknown;
}

export function readConfigFile(file: string): unknown {
  if (!existsSync(file)) throw new ConfigError(file, ['file not found; check the path (relative paths are resolved from the current folder)']);
  if (statSync(file).isDirectory()) throw new ConfigError(file, ['is a directory; give the pipeline file itself (YAML or JSON)']);
  let text: string;
  try {
    text = decodeUtf8Strict(readFileSync(file), file);
  } catch (e) {
    // "<file>:<line>: invalid UTF-8 at byte offset ..." -> the problem without the file prefix.
    throw new ConfigError(file, [(e as Error).message.slice(file.length + 1).replace(/^(\d+):/, 'line $1:').trim()]);
  }
  return parseConfigText(text, file);
}

/**
 * Relative `task.path` (and a jsonl task's per-split `task.train` / `task.test` / `task.probe`) and
 * `model.path` (type hf) of pipeline data made absolute against the folder of `file`, the config
 * they were written in (absolute paths and other fields are kept).
 */
export function absolutizeConfigPaths(data: unknown, file: string): unknown {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return data;
  const out = { ...(data as Record<string, unknown>) };
  const absolutize = (key: 'task' | 'model', fields: readonly string[]): void => {
    const spec = out[key];
    if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) return;
    if (key === 'model' && (spec as { type?: unknown }).type !== 'hf') return;
    const next = { ...(spec as Record<string, unknown>) };
    for (const f of fields) {
      const p = next[f];
      if (typeof p === 'string' && p !== '' && !isAbsolute(p)) next[f] = resolve(dirname(file), p);
    }
    out[key] = next;
  };
  const taskType = (out['task'] as { type?: unknown } | null | undefined)?.type;
  absolutize('task', taskType === 'jsonl' ? ['path', 'train', 'test', 'probe'] : ['path']);
  absolutize('model', ['path', 'adapter']);
  return out;
}

/**
 * readConfigFile for a pipeline file: relative `task.path` and `model.path` (type hf) become absolute
 * against the file's folder, so config.json, resume and sweep workers load the same files whatever
 * the current folder. Paths given on the command line (--task, --model, --set) stay cwd-relative.
 */
export function readPipelineFile(file: string): unknown {
  return absolutizeConfigPaths(readConfigFile(file), file);
}

function defaultName(file: string): string {
  const base = basename(file, extname(file)).replace(/[^A-Za-z0-9._-]/g, '-');
  return base === '' || base === 'config' ? 'pipeline' : base;
}

/**
 * Validate a pipeline (parsed YAML/JSON) against the file schema and each stage entry against the
 * schema of its registered StageFactory. All problems are collected into one ConfigError.
 */
export function parsePipelineConfig(data: unknown, file: string, registry: StageRegistry = stageRegistry): PipelineConfig {
  const parsed = PipelineFileSchema.safeParse(data);
  const problems: string[] = parsed.success ? [] : formatIssues(parsed.error.issues, data, PipelineFileSchema);
  const stages: StageSpec[] = [];
  const indexed: IndexedStage[] = [];
  const seen = new Map<string, number>();
  const rawStages = data !== null && typeof data === 'object' ? (data as { stages?: unknown }).stages : undefined;
  // Stage entries are checked even when the top level has problems, so one run shows all of them.
  (Array.isArray(rawStages) ? rawStages : []).forEach((entry: unknown, i) => {
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return;
    const keys = Object.keys(entry);
    if (keys.length !== 1) {
      problems.push(
        `stages[${i}]: expected exactly one key naming the stage kind (e.g. "- em: { steps: 10 }"), received ${keys.length === 0 ? 'an empty object' : `keys ${keys.join(', ')}`}`,
      );
      return;
    }
    const kind = keys[0]!;
    const factory = registry.get(kind);
    if (!factory) {
      const known = registry.kinds();
      if ((BUILTIN_STAGE_KINDS as readonly string[]).includes(kind)) {
        problems.push(
          `stages[${i}].${kind}: stage kind "${kind}" has no implementation registered in this build (registered: ${known.join(', ') || 'none'})`,
        );
      } else {
        const guess = didYouMean(kind, [...new Set([...known, ...BUILTIN_STAGE_KINDS])]);
        problems.push(
          `stages[${i}]: unknown stage kind "${kind}"${guess ? ` (did you mean "${guess}"?)` : ''}; registered kinds: ${known.join(', ') || 'none'}`,
        );
      }
      return;
    }
    const where = `stages[${i}].${kind}`;
    const aliased = applyTrlAliases(kind, (entry as Record<string, unknown>)[kind] ?? {}, where, defaultOf(factory.schema, 'steps'));
    problems.push(...aliased.problems);
    const raw = aliased.options;
    const options = factory.schema.safeParse(raw);
    if (!options.success) {
      const hints = { aliases: aliasTableFor(kind).aliases, renamed: aliased.renamed };
      problems.push(...formatIssues(options.error.issues, raw, factory.schema, ['stages', i, kind], hints));
      return;
    }
    if (aliased.problems.length > 0) return;
    const n = (seen.get(kind) ?? 0) + 1;
    seen.set(kind, n);
    stages.push({ id: n === 1 ? kind : `${kind}-${n}`, kind, options: options.data });
    indexed.push({ index: i, kind, options: options.data });
  });
  const task = data !== null && typeof data === 'object' ? (data as { task?: unknown }).task : undefined;
  problems.push(...checkTaskSpec(task).map((p) => `task.${p}`));
  const diagnostics = (data as { diagnostics?: { enabled?: unknown } } | null)?.diagnostics?.enabled !== false;
  problems.push(...crossStageProblems({ task, stages: indexed, diagnostics }));
  if (problems.length > 0 || !parsed.success) throw new ConfigError(file, problems);
  return { ...parsed.data, name: parsed.data.name ?? defaultName(file), stages };
}

export function loadPipelineConfig(file: string, registry: StageRegistry = stageRegistry): PipelineConfig {
  return parsePipelineConfig(readPipelineFile(file), file, registry);
}

/** The pipeline file form (`stages: [{ kind: options }]`) of a validated config, every default filled. */
export type ResolvedPipelineFile = Omit<PipelineConfig, 'stages'> & { stages: Record<string, unknown>[] };

/**
 * Fully resolved JSON (defaults filled, stage options as parsed) in the file form, so it can be
 * re-parsed by parsePipelineConfig (resume does exactly that from config.json).
 */
export function resolveConfig(config: PipelineConfig): ResolvedPipelineFile {
  const { stages, ...rest } = config;
  return JSON.parse(JSON.stringify({ ...rest, stages: stages.map((s) => ({ [s.kind]: s.options })) })) as ResolvedPipelineFile;
}

/** Construct the Stage objects of a validated config through the registry. */
export function createStages(config: PipelineConfig, registry: StageRegistry = stageRegistry): Stage[] {
  return config.stages.map((s) => {
    const factory = registry.get(s.kind);
    if (!factory) throw new Error(`stage kind "${s.kind}" is not registered (registered: ${registry.kinds().join(', ') || 'none'})`);
    return factory.create(s.id, s.options);
  });
}
