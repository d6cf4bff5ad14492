import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ByteTokenizer, loadLoraAdapter, loadPretrained, type CausalLM } from '@emrl/lm';
import { makeTinyModel, setupTestBackend } from '@emrl/lm/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Policy } from '../policy';
import { loadTrainingCheckpoint, saveTrainingCheckpoint } from './stage-checkpoint';

const LORA = { r: 2, alpha: 4, targetModules: ['q_proj', 'up_proj'] };
let dir: string;
const models: CausalLM[] = [];
beforeAll(async () => {
  await setupTestBackend();
  dir = await mkdtemp(join(tmpdir(), 'lora-ckpt-test-'));
});
afterAll(async () => {
  models.forEach((m) => m.dispose());
  await rm(dir, { recursive: true, force: true });
});

function policyOf(seed: number, loraSeed: number | null): Policy {
  const model = makeTinyModel({ family: 'llama', vocabSize: 258, seed });
  models.push(model);
  if (loraSeed !== null) {
    model.attachLora(LORA, loraSeed);
    let s = loraSeed;
    tf.tidy(() => {
      for (const p of model.getLora()!.pairs.values()) p.b.assign(tf.randomNormal(p.b.shape, 0, 0.2, 'float32', s++));
    });
  }
  return { model, tokenizer: new ByteTokenizer(), name: `m${seed}` };
}
const values = (m: CausalLM) => [...m.getLora()!.namedVariables()].map(([n, v]) => [n, Array.from(v.dataSync())]);
const ino = async (f: string) => (await stat(f)).ino;

describe('checkpoints while a LoRA adapter trains', () => {
  it('writes the base once, hard-links it into every step, and rewrites it only when the base changed', async () => {
    const d = join(dir, 'once');
    const p = policyOf(1, 5);
    await saveTrainingCheckpoint(d, { step: 1, policy: p });
    await saveTrainingCheckpoint(d, { step: 2, policy: p });
    expect((await readdir(d)).sort()).toEqual(['base-model', 'latest.json', 'step-000001', 'step-000002']);
    const base = await ino(join(d, 'base-model', 'model.safetensors'));
    expect(await ino(join(d, 'step-000001', 'model.safetensors'))).toBe(base);
    expect(await ino(join(d, 'step-000002', 'model.safetensors'))).toBe(base);
    expect((await readdir(join(d, 'step-000002', 'adapter'))).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);

    // A changed base (not possible inside a LoRA stage, but a stale directory must not be trusted).
    const w = p.model.weights.get('model.norm.weight')!;
    tf.tidy(() => w.assign(tf.add(w, 1)));
    await saveTrainingCheckpoint(d, { step: 3, policy: p });
    const rewritten = await ino(join(d, 'base-model', 'model.safetensors'));
    expect(rewritten).not.toBe(base);
    expect(await ino(join(d, 'step-000003', 'model.safetensors'))).toBe(rewritten);
    // The older step keeps its own (old) base: its hard link outlives the replaced base-model/.
    const old = await loadPretrained(join(d, 'step-000002'));
    const now = await loadPretrained(join(d, 'step-000003'));
    models.push(old.model, now.model);
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(now.model.weights.get('model.norm.weight')!, old.model.weights.get('model.norm.weight')!))).dataSync()[0]!);
    expect(diff).toBeCloseTo(1, 5);
  });

  it('a step directory is base + PEFT adapter; resume restores the adapter values into the attached adapter', async () => {
    const d = join(dir, 'resume');
    const src = policyOf(2, 7);
    const saved = await saveTrainingCheckpoint(d, { step: 4, policy: src });
    const user = await loadPretrained(saved.path);
    models.push(user.model);
    await loadLoraAdapter(join(saved.path, 'adapter'), user.model);
    expect(values(user.model)).toEqual(values(src.model));

    const dst = policyOf(2, 8); // same base, a different adapter init (as a stage's build() attaches it)
    expect(values(dst.model)).not.toEqual(values(src.model));
    const { optimizerState } = await loadTrainingCheckpoint(saved.path, dst);
    tf.dispose(Object.values(optimizerState));
    expect(values(dst.model)).toEqual(values(src.model));
  });

  it('refuses a checkpoint whose adapter presence does not match the stage, naming the directory and the fix', async () => {
    const withLora = await saveTrainingCheckpoint(join(dir, 'with'), { step: 1, policy: policyOf(3, 1) });
    const withoutLora = await saveTrainingCheckpoint(join(dir, 'without'), { step: 1, policy: policyOf(3, null) });
    await expect(loadTrainingCheckpoint(withLora.path, policyOf(3, null))).rejects.toThrow(
      `${withLora.path}: the checkpoint carries a LoRA adapter (adapter/) but the stage's policy has none; set the stage's lora option as it was`,
    );
    await expect(loadTrainingCheckpoint(withoutLora.path, policyOf(3, 1))).rejects.toThrow(
      `${join(withoutLora.path, 'adapter', 'adapter_model.safetensors')}: missing; this checkpoint was written without a LoRA adapter but the stage trains one`,
    );
  });
});
