import * as tf from '@tensorflow/tfjs-core';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import {
  CausalLM,
  readSafetensors,
  readSafetensorsDir,
  saveLoraAdapter,
  savePretrained,
  writeFileAtomic,
  writeSafetensors,
  type RawTensor,
} from '@emrl/lm';
import type { Policy } from '../policy';
import { ensureFrozenBase, linkBaseFiles, loadLoraCheckpointInto, LORA_ADAPTER_DIR } from './lora-checkpoint';

/**
 * In-stage training checkpoints: `<dir>/step-000010/` holds a Hugging Face model directory
 * (loadable on its own), `optimizer.safetensors` and `trainer-state.json`; `<dir>/latest.json`
 * names the newest complete one. With a LoRA adapter attached, the model files are hard links to the
 * stage's `base-model/` (written once) and `adapter/` holds the PEFT adapter (lora-checkpoint.ts).
 * Each checkpoint is written into a temp directory and renamed,
 * and latest.json is replaced atomically, so a kill at any moment leaves the previous one intact.
 */
const TrainerStateSchema = z.object({
  step: z.number().int().min(0),
  /** Whether optimizer.safetensors was written (absent in older checkpoints): a missing one is then an error, never a silent optimizer restart. */
  optimizer: z.boolean().optional(),
  pluginStates: z.record(z.string(), z.record(z.string(), z.number())).default({}),
  extra: z.record(z.string(), z.unknown()).default({}),
});
export type TrainerState = z.infer<typeof TrainerStateSchema>;

const LatestSchema = z.object({ step: z.number().int().min(0), path: z.string() });

export interface SavedCheckpoint {
  step: number;
  path: string;
}

function stepDirName(step: number): string {
  return `step-${String(step).padStart(6, '0')}`;
}

async function tensorsToRaw(tensors: tf.NamedTensorMap): Promise<Map<string, RawTensor>> {
  const out = new Map<string, RawTensor>();
  for (const [name, t] of Object.entries(tensors)) {
    // Counters (int32) are stored as F32: exact for any step count below 2^24.
    out.set(name, { shape: t.shape.slice(), data: Float32Array.from(await t.data()) });
  }
  return out;
}

/** Parses a checkpoint's JSON file with `schema`; every failure names the file and what to do. */
async function readCheckpointJson<T>(file: string, schema: z.ZodType<T>, what: string, fix: string): Promise<T> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: unreadable ${what} (${(e as Error).message}); ${fix}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new Error(`${file}: malformed ${what} (${z.prettifyError(parsed.error)}); ${fix}`);
  return parsed.data;
}

/** The durable steps of a checkpoint write, in order (for kill-matrix tests). */
export type CheckpointFailpoint = 'before-step-rename' | 'after-step-rename' | 'after-latest';
let failpointHook: ((point: CheckpointFailpoint, path: string) => void) | null = null;

/**
 * Test-only: called synchronously at each durable step of saveTrainingCheckpoint, so a test can copy
 * the run directory there (what a SIGKILL at that point leaves on disk). Returns the previous hook.
 */
export function setCheckpointFailpointHook(hook: ((point: CheckpointFailpoint, path: string) => void) | null): typeof failpointHook {
  const prev = failpointHook;
  failpointHook = hook;
  return prev;
}

/** Variables of a trained adapter (not attached to the model yet), by stable name. */
export const TRAINED_ADAPTER_FILE = 'trained-adapter.safetensors';

/**
 * Writes a complete checkpoint for `step` (number of completed steps) and points latest.json at it:
 * the model directory, the attached logits adapter as `adapters/<name>.json` (when it can save
 * itself), the optimizer moments, a trained adapter's variables (when an adapter is what trains)
 * and trainer-state.json. Takes ownership of `optimizerState` (disposes it).
 */
export async function saveTrainingCheckpoint(
  dir: string,
  args: {
    step: number;
    policy: Policy;
    optimizerState?: tf.NamedTensorMap;
    pluginStates?: TrainerState['pluginStates'];
    extra?: Record<string, unknown>;
    trainedAdapter?: Map<string, tf.Variable>;
  },
): Promise<SavedCheckpoint> {
  await mkdir(dir, { recursive: true });
  const final = join(dir, stepDirName(args.step));
  const tmp = `${final}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  if (args.policy.model.getLora()) {
    await linkBaseFiles(await ensureFrozenBase(dir, args.policy), tmp);
    await saveLoraAdapter(join(tmp, LORA_ADAPTER_DIR), args.policy.model, { baseModelNameOrPath: resolve(final) });
  } else {
    await savePretrained(tmp, args.policy.model, args.policy.tokenizer);
  }
  const attached = args.policy.model.getLogitsAdapter();
  if (attached?.toJSON) await writeFileAtomic(join(tmp, 'adapters', `${attached.name}.json`), JSON.stringify(attached.toJSON()) + '\n');
  const optimizerState = args.optimizerState ?? {};
  const hasOptimizer = Object.keys(optimizerState).length > 0;
  if (hasOptimizer) {
    const raw = await tensorsToRaw(optimizerState);
    Object.values(optimizerState).forEach((t) => t.dispose());
    await writeSafetensors(join(tmp, 'optimizer.safetensors'), raw);
  }
  if (args.trainedAdapter) await writeSafetensors(join(tmp, TRAINED_ADAPTER_FILE), await tensorsToRaw(Object.fromEntries(args.trainedAdapter)));
  const state: TrainerState = { step: args.step, optimizer: hasOptimizer, pluginStates: args.pluginStates ?? {}, extra: args.extra ?? {} };
  await writeFileAtomic(join(tmp, 'trainer-state.json'), JSON.stringify(state, null, 2));
  failpointHook?.('before-step-rename', tmp);
  await rm(final, { recursive: true, force: true });
  await rename(tmp, final);
  failpointHook?.('after-step-rename', final);
  await writeFileAtomic(join(dir, 'latest.json'), JSON.stringify({ step: args.step, path: stepDirName(args.step) }));
  failpointHook?.('after-latest', join(dir, 'latest.json'));
  return { step: args.step, path: final };
}

/** The newest complete checkpoint in `dir`, or null. */
export async function findLatestCheckpoint(dir: string): Promise<SavedCheckpoint | null> {
  const file = join(dir, 'latest.json');
  if (!existsSync(file)) return null;
  const latest = await readCheckpointJson(file, LatestSchema, 'checkpoint pointer', `rewrite it as {"step": N, "path": "step-00000N"} naming a complete step folder of ${dir}`);
  return { step: latest.step, path: join(dir, latest.path) };
}

/** Copies a saved model directory's weights into an existing model (same config) in place. */
export async function loadWeightsInto(model: CausalLM, modelDir: string): Promise<void> {
  const content = await readSafetensorsDir(modelDir);
  const tensors = new Map<string, tf.Tensor>();
  for (const [name, raw] of content.tensors) tensors.set(name, tf.tensor(raw.data, raw.shape));
  const loaded = CausalLM.fromHfTensors(model.config, tensors);
  tensors.forEach((t) => t.dispose());
  try {
    for (const [name, v] of model.weights) {
      const src = loaded.weights.get(name);
      if (!src) throw new Error(`${modelDir}: checkpoint lacks weight "${name}"`);
      v.assign(src);
    }
  } finally {
    loaded.dispose();
  }
}

/** Assigns a checkpoint's trained-adapter variables (saved by name) to `variables`. */
export async function loadTrainedAdapter(path: string, variables: Map<string, tf.Variable>): Promise<void> {
  const file = join(path, TRAINED_ADAPTER_FILE);
  if (!existsSync(file)) throw new Error(`${file}: missing; this checkpoint was not written while an adapter trained, so it cannot resume one (delete ${path} to start the stage over)`);
  const content = await readSafetensors(file);
  for (const [name, v] of variables) {
    const raw = content.tensors.get(name);
    if (!raw || raw.shape.join(',') !== v.shape.join(',')) throw new Error(`${file}: no tensor "${name}" of shape [${v.shape}]; the checkpoint belongs to another adapter`);
    tf.tidy(() => v.assign(tf.tensor(raw.data, raw.shape)));
  }
}

/** Restores model weights (and a LoRA adapter's variables) in place and returns the optimizer tensors (caller disposes) and state. */
export async function loadTrainingCheckpoint(
  path: string,
  policy: Policy,
): Promise<{ state: TrainerState; optimizerState: tf.NamedTensorMap }> {
  const stateFile = join(path, 'trainer-state.json');
  const state = await readCheckpointJson(stateFile, TrainerStateSchema, 'trainer state', `restore it from a copy of the run, or delete ${path} and its latest.json entry to resume from an earlier checkpoint`);
  const optimizerState: tf.NamedTensorMap = {};
  const optFile = join(path, 'optimizer.safetensors');
  if (state.optimizer && !existsSync(optFile)) {
    throw new Error(`${optFile}: missing, but ${stateFile} says it was written; a resume would silently restart the optimizer. Restore the file, or delete ${path} to resume from an earlier checkpoint`);
  }
  await loadWeightsInto(policy.model, path);
  await loadLoraCheckpointInto(policy.model, path);
  if (existsSync(optFile)) {
    const content = await readSafetensors(optFile, { floatOnly: true });
    for (const [name, raw] of content.tensors) optimizerState[name] = tf.tensor(raw.data, raw.shape);
  }
  return { state, optimizerState };
}

/** Whether a step-based stage saves after `step` (0-based): every `every` steps (0: only at the end) and at the end. */
export function checkpointDue(step: number, isLast: boolean, every: number): boolean {
  return isLast || (every > 0 && (step + 1) % every === 0);
}

/**
 * The resume step shared by training stages: when the context asks to resume and `checkpointDir`
 * holds a checkpoint, restores the weights in place, passes the optimizer tensors to
 * `loadOptimizerState` (disposed afterwards) and returns the saved state with a log line; else null.
 */
export async function resumeFromCheckpoint(
  ctx: { checkpointDir?: string; resumeStep?: number },
  policy: Policy,
  loadOptimizerState: (state: tf.NamedTensorMap) => void,
  trainedAdapter?: Map<string, tf.Variable>,
): Promise<{ state: TrainerState; log: string } | null> {
  if (ctx.resumeStep === undefined || !ctx.checkpointDir) return null;
  const latest = await findLatestCheckpoint(ctx.checkpointDir);
  if (!latest) return null;
  const { state, optimizerState } = await loadTrainingCheckpoint(latest.path, policy);
  if (state.step !== latest.step) {
    Object.values(optimizerState).forEach((t) => t.dispose());
    throw new Error(`${join(latest.path, 'trainer-state.json')}: step ${state.step}, but ${join(ctx.checkpointDir, 'latest.json')} says step ${latest.step}; the checkpoint folder does not belong to that pointer (restore the run's files, or point latest.json at a matching step folder)`);
  }
  if (trainedAdapter) await loadTrainedAdapter(latest.path, trainedAdapter);
  try {
    loadOptimizerState(optimizerState);
  } finally {
    Object.values(optimizerState).forEach((t) => t.dispose());
  }
  return { state, log: `resumed from ${latest.path} (step ${state.step})` };
}
