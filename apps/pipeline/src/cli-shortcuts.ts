import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from './config/config-error';
import type { ModelSpec, TaskSpec } from './config/pipeline-schema';

/**
 * `--model <dir|embedded[:id]>`: "embedded" is the default embedded model, "embedded:<id>" a named
 * one (models/<id>), anything else a Hugging Face model directory (resolved from the current folder).
 */
export function parseModelFlag(value: string): ModelSpec {
  if (value === 'embedded') return { type: 'embedded' };
  if (value.startsWith('embedded:')) {
    const id = value.slice('embedded:'.length);
    if (!id) throw new ConfigError('--model', ['"embedded:" needs a model id, e.g. --model embedded:modchain-byte (or just --model embedded)']);
    return { type: 'embedded', id };
  }
  const path = resolve(value);
  if (!existsSync(path) || !statSync(path).isDirectory()) {
    throw new ConfigError('--model', [`"${value}": no such directory; give a Hugging Face model directory (config.json, *.safetensors, tokenizer.json) or embedded[:id]`]);
  }
  if (!existsSync(resolve(path, 'config.json'))) {
    throw new ConfigError('--model', [`"${value}": no config.json in this directory; give a Hugging Face model directory (config.json, *.safetensors, tokenizer.json) or embedded[:id]`]);
  }
  return { type: 'hf', path };
}

/** `--threads <n|auto>`: a positive integer or "auto" (the cores, at most 8). */
export function parseThreadsFlag(value: string): number | 'auto' {
  if (value === 'auto') return 'auto';
  if (!/^[1-9][0-9]*$/.test(value)) throw new ConfigError('--threads', [`"${value}": expected a positive integer (e.g. 2) or "auto" (the machine's cores, at most 8)`]);
  return Number(value);
}

/**
 * `--task <modchain|word-problems|path.jsonl>`: a file ending in .jsonl becomes a JSONL task
 * (path resolved from the current folder); any other value names a registered task type with its
 * default options (the runtime checks the name).
 */
export function parseTaskFlag(value: string): TaskSpec {
  if (value.toLowerCase().endsWith('.jsonl')) {
    const path = resolve(value);
    if (!existsSync(path)) throw new ConfigError('--task', [`"${value}": file not found; give a JSONL file (one {"problem", "answer"} object per line) or a task type such as modchain`]);
    return { type: 'jsonl', path };
  }
  if (!/^[a-z][a-z0-9-]*$/.test(value)) {
    throw new ConfigError('--task', [`"${value}": expected a task type (modchain, word-problems) or a .jsonl file`]);
  }
  return { type: value };
}

/**
 * The --set-style overrides the --model / --task shortcuts stand for (applied before any --set).
 * `emrl eval|diagnose --task file.jsonl` measure every line of the file (`test: file`): a benchmark
 * is scored whole. Elsewhere a JSONL file is split 80/20 into train and test (the jsonl task's default).
 */
export function shortcutOverrides(opts: { model?: string; task?: string; threads?: string }, command?: string): { path: string; value: unknown }[] {
  const out: { path: string; value: unknown }[] = [];
  if (opts.threads !== undefined) out.push({ path: 'threads', value: parseThreadsFlag(opts.threads) });
  if (opts.model !== undefined) out.push({ path: 'model', value: parseModelFlag(opts.model) });
  if (opts.task !== undefined) {
    const spec = parseTaskFlag(opts.task);
    const whole = (command === 'eval' || command === 'diagnose') && spec.type === 'jsonl';
    out.push({ path: 'task', value: whole ? { type: 'jsonl', test: spec['path'] } : spec });
  }
  return out;
}

/**
 * A single-stage command (`emrl eval ... --set eval.maxNewTokens=16`) measures its boundary
 * diagnostics with the stage's `maxNewTokens` unless `diagnostics.maxNewTokens` is set: otherwise the
 * probe samples run to the task's length limit (1024 for JSONL tasks) and dwarf the stage itself.
 */
export function inheritStageTokenLimit(data: Record<string, unknown>, kind: string): Record<string, unknown> {
  const stage = (Array.isArray(data['stages']) ? data['stages'] : []).find((s) => s && typeof s === 'object' && kind in s) as Record<string, unknown> | undefined;
  const limit = (stage?.[kind] as Record<string, unknown> | undefined)?.['maxNewTokens'];
  const diagnostics = data['diagnostics'] ?? {};
  if (typeof limit !== 'number' || typeof diagnostics !== 'object' || diagnostics === null) return data;
  if ((diagnostics as Record<string, unknown>)['maxNewTokens'] !== undefined) return data;
  return { ...data, diagnostics: { ...diagnostics, maxNewTokens: limit } };
}
