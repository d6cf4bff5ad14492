import * as tf from '@tensorflow/tfjs-core';
import { copyFile, link, mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  ADAPTER_WEIGHTS_FILE,
  LoraAdapter,
  rawToTf,
  readSafetensors,
  savePretrained,
  tempSiblingPath,
  writeFileAtomic,
  type CausalLM,
} from '@emrl/lm';
import type { Policy } from '../policy';

/**
 * Checkpoints of a stage that trains a LoRA adapter. The frozen base weights are written ONCE per
 * stage checkpoint directory (`<dir>/base-model/`, a Hugging Face directory); every step directory
 * hard-links those files (no extra bytes on disk; a copy where the filesystem has no hard links) and
 * adds `adapter/` (PEFT's adapter_config.json + adapter_model.safetensors). So each step directory
 * is loadable on its own (base + adapter) and a 0.5B model does not cost 2 GB per step.
 */
export const BASE_MODEL_DIR = 'base-model';
export const LORA_ADAPTER_DIR = 'adapter';
const FINGERPRINT_FILE = 'emrl-base-fingerprint.json';

/** Weights above this many floats are squared in blocks of rows (fingerprint memory). */
const SQUARE_BLOCK_FLOATS = 1 << 22;

/** sum(w^2) as a scalar; a weight over SQUARE_BLOCK_FLOATS in blocks of rows, one square alive at a time. */
export function sumOfSquares(w: tf.Tensor): tf.Scalar {
  if (w.size <= SQUARE_BLOCK_FLOATS || w.rank < 2) return tf.tidy(() => tf.sum(tf.square(w)));
  const rows = w.shape[0]!;
  const block = Math.max(1, Math.floor((SQUARE_BLOCK_FLOATS * rows) / w.size));
  let total = tf.scalar(0);
  for (let r = 0; r < rows; r += block) {
    const next = tf.tidy(() => tf.add(total, tf.sum(tf.square(tf.slice(w, r, Math.min(block, rows - r))))) as tf.Scalar);
    total.dispose();
    total = next;
  }
  return total;
}

/** Per-weight [sum, sum of squares] of the base weights: tells whether base-model/ still holds them. */
async function baseFingerprint(model: CausalLM): Promise<number[]> {
  const names = [...model.weights.keys()].sort();
  // One weight at a time, large ones in row blocks: a real-size model cannot hold the squares of
  // its weights next to the weights (Qwen2.5-0.5B: +1.9 GB at once, +0.5 GB for its embedding).
  const perWeight = names.map((n) => tf.tidy(() => tf.stack([tf.sum(model.weights.get(n)!), sumOfSquares(model.weights.get(n)!)]))); // each [2]
  const stats = tf.stack(perWeight); // [nWeights, 2]
  tf.dispose(perWeight);
  const data = Array.from(await stats.data()); // [nWeights * 2]
  stats.dispose();
  return data;
}

async function readFingerprint(baseDir: string): Promise<number[] | null> {
  const file = join(baseDir, FINGERPRINT_FILE);
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(await readFile(file, 'utf8')) as number[];
  } catch {
    return null;
  }
}

/**
 * `<dir>/base-model/` holding `policy`'s base weights: reused when its fingerprint matches the
 * model's, else (re)written into a temp sibling and renamed into place.
 */
export async function ensureFrozenBase(dir: string, policy: Policy): Promise<string> {
  const baseDir = join(dir, BASE_MODEL_DIR);
  const fingerprint = await baseFingerprint(policy.model);
  const saved = await readFingerprint(baseDir);
  if (saved && saved.length === fingerprint.length && saved.every((v, i) => v === fingerprint[i])) return baseDir;
  const tmp = tempSiblingPath(baseDir);
  try {
    await savePretrained(tmp, policy.model, policy.tokenizer);
    await writeFileAtomic(join(tmp, FINGERPRINT_FILE), JSON.stringify(fingerprint));
    await rm(baseDir, { recursive: true, force: true });
    await rename(tmp, baseDir);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  return baseDir;
}

/** Hard-links (or copies) every model file of `baseDir` into `target` (created when missing). */
export async function linkBaseFiles(baseDir: string, target: string): Promise<void> {
  await mkdir(target, { recursive: true });
  for (const f of await readdir(baseDir, { withFileTypes: true })) {
    if (!f.isFile() || f.name === FINGERPRINT_FILE) continue;
    try {
      await link(join(baseDir, f.name), join(target, f.name));
    } catch {
      await copyFile(join(baseDir, f.name), join(target, f.name));
    }
  }
}

/**
 * Assigns a checkpoint's `adapter/` tensors to the model's attached LoRA adapter (same config,
 * shapes checked). Errors name the file and the fix.
 */
export async function loadLoraCheckpointInto(model: CausalLM, checkpoint: string): Promise<void> {
  const lora = model.getLora();
  const file = join(checkpoint, LORA_ADAPTER_DIR, ADAPTER_WEIGHTS_FILE);
  if (!lora) {
    if (existsSync(file)) throw new Error(`${checkpoint}: the checkpoint carries a LoRA adapter (${LORA_ADAPTER_DIR}/) but the stage's policy has none; set the stage's lora option as it was, or delete ${checkpoint} to start the stage over`);
    return;
  }
  if (!existsSync(file)) throw new Error(`${file}: missing; this checkpoint was written without a LoRA adapter but the stage trains one (delete ${checkpoint} to start the stage over)`);
  const tensors = rawToTf((await readSafetensors(file)).tensors);
  let loaded: LoraAdapter;
  try {
    loaded = LoraAdapter.fromPeftTensors(model.config, lora.config, tensors, file);
  } finally {
    tensors.forEach((t) => t.dispose());
  }
  try {
    for (const [module, pair] of lora.pairs) {
      const src = loaded.pairs.get(module)!;
      pair.a.assign(src.a);
      pair.b.assign(src.b);
    }
  } finally {
    loaded.dispose();
  }
}
