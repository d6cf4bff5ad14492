import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadLoraAdapter, loadPretrained } from '@emrl/lm';
import { createRegistry, createTask, evalStageFactory, grpoStageFactory, registeredTaskTypes, type Policy, type Registry, type StageFactory } from '@emrl/rl-grpo';
import { compressStageFactory, emStageFactory, loadAdapter, registerEmPlugins, removeAdapterStageFactory, selectStageFactory } from '@emrl/em-plugin';
import { ConfigError } from './config/config-error';
import { didYouMean } from './config/did-you-mean';
import { registerStageFactory } from './config/stage-registry';
import { diagnosePolicy, prepareProbeSet } from './diagnostics';
import { configureRuntime, getRuntime, type PipelineRuntime } from './runtime';
import type { ModelSpec } from './config/pipeline-schema';

/** Repository root (apps/pipeline/src -> ../../..). */
export const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
/** Embedded base models live in <repo>/models/<id>; `npm run build:base-model` rebuilds them. */
export const EMBEDDED_MODELS_DIR = join(REPO_ROOT, 'models');
export const DEFAULT_EMBEDDED_MODEL = 'modchain-byte';

/** The sub-directory of a checkpoint that holds its LoRA adapter (PEFT layout). */
export const CHECKPOINT_LORA_DIR = 'adapter';

/**
 * Loads a Hugging Face directory, attaches a LoRA adapter (`loraDir`, or the directory's own
 * `adapter/` as a LoRA stage's checkpoint has it) and applies any compression layers saved in
 * `<dir>/adapters/`.
 */
export async function loadPolicyFromDir(dir: string, name: string, loraDir?: string): Promise<Policy> {
  const { model, tokenizer } = await loadPretrained(dir);
  const own = join(dir, CHECKPOINT_LORA_DIR);
  const lora = loraDir ?? (existsSync(join(own, 'adapter_config.json')) ? own : undefined);
  if (lora) {
    try {
      await loadLoraAdapter(lora, model);
    } catch (err) {
      model.dispose();
      throw err;
    }
  }
  const adapters = join(dir, 'adapters');
  if (existsSync(adapters)) {
    const files = readdirSync(adapters).filter((f) => f.endsWith('.json'));
    if (files.length > 1) throw new Error(`${adapters}: ${files.length} adapters found; emrl applies one logits adapter at a time`);
    if (files.length === 1) model.setLogitsAdapter(await loadAdapter(join(adapters, files[0]!)));
  }
  return { model, tokenizer, name };
}

export function resolveModelDir(spec: ModelSpec): string {
  if (spec.type === 'hf') return resolve(spec.path);
  const id = spec.id ?? DEFAULT_EMBEDDED_MODEL;
  const dir = join(EMBEDDED_MODELS_DIR, id);
  if (!existsSync(join(dir, 'config.json'))) {
    const have = existsSync(EMBEDDED_MODELS_DIR) ? readdirSync(EMBEDDED_MODELS_DIR).join(', ') : 'none';
    throw new Error(`model: embedded model "${id}" not found in ${EMBEDDED_MODELS_DIR} (available: ${have}); rebuild it with npm run build:base-model`);
  }
  return dir;
}

/**
 * The composition root's plugin registry: rl-grpo's built-ins (entropy-bonus, accuracy and format
 * rewards) and em-plugin's (em-regularizer, majority-agreement). A user's own terms and rewards are
 * registered on it before a pipeline is built; nothing registers itself on import.
 */
export const pluginRegistry: Registry = registerEmPlugins(createRegistry());

/** Every stage kind of the CLI, built on a plugin registry. */
export function builtinStageFactories(registry: Registry = pluginRegistry): StageFactory[] {
  return [selectStageFactory, emStageFactory, grpoStageFactory(registry), compressStageFactory, removeAdapterStageFactory, evalStageFactory] as StageFactory[];
}

let wired = false;

/**
 * Connect the libraries to the app: called once by main.ts and by every sweep worker process.
 * Registers the stage kinds of rl-grpo (grpo, eval) and em-plugin (select, em, compress,
 * remove-adapter) with the plugin registry above, and the model, task, diagnostics and checkpoint
 * loaders.
 */
export function wireRuntime(): PipelineRuntime {
  if (!wired) {
    for (const f of builtinStageFactories()) registerStageFactory(f);
    wired = true;
  }
  return configureRuntime({
    loadPolicy: async (spec) => {
      const dir = resolveModelDir(spec);
      if (spec.type === 'embedded') return loadPolicyFromDir(dir, spec.id ?? DEFAULT_EMBEDDED_MODEL);
      const adapter = spec.adapter ? resolve(spec.adapter) : undefined;
      const name = dir.split(/[\\/]/).pop()! + (adapter ? `+${adapter.split(/[\\/]/).pop()!}` : '');
      return loadPolicyFromDir(dir, name, adapter);
    },
    loadTask: async (spec) => {
      const known = registeredTaskTypes();
      if (!known.includes(spec.type)) {
        const guess = didYouMean(spec.type, known);
        throw new ConfigError('task.type', [`unknown task type "${spec.type}"${guess ? ` (did you mean "${guess}"?)` : ''}; known types: ${known.join(', ')}`]);
      }
      // Paths from a pipeline file are already absolute (readPipelineFile); only command-line paths reach here relative.
      return createTask(spec as Parameters<typeof createTask>[0], { baseDir: process.cwd() });
    },
    prepareProbe: (policy, ctx) => prepareProbeSet(policy, ctx),
    diagnose: (policy, boundary, ctx) => diagnosePolicy(policy, boundary, ctx),
    loadCheckpoint: async (path, base) => {
      const p = await loadPolicyFromDir(path, `${base.name}@${path.split(/[\\/]/).slice(-2).join('/')}`);
      return p;
    },
  });
}

export { getRuntime };
