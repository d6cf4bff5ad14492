import * as tf from '@tensorflow/tfjs-core';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ByteTokenizer, tokenEntropy, type CausalLM } from '@emrl/lm';
import { makeTinyModel, setupTestBackend } from '@emrl/lm/testing';
import { createTask, type StageEvent } from '@emrl/rl-grpo';
import { adapterFromJSON, loadAdapter, TemperatureAdapter, type AdapterFile } from './compression';
import { CompressStage, CompressStageConfigSchema } from './compress-stage';

const task = createTask({ type: 'modchain', trainSize: 50, testSize: 20, probeSize: 8, maxOps: 2 });
const tokenizer = new ByteTokenizer();
const dirs: string[] = [];

beforeAll(async () => {
  await setupTestBackend();
});
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** Logits of two probe sequences [2, 8, V]. */
function logitsOf(model: CausalLM): tf.Tensor3D {
  return tf.tidy(() => model.forward(tf.tensor2d([tokenizer.encode('3+4*2=3+'), tokenizer.encode('9-1=8;8*')], undefined, 'int32')));
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

function meanEntropy(logits: tf.Tensor3D): number {
  return tf.tidy(() => tf.mean(tokenEntropy(logits, 1)).dataSync()[0]!);
}

async function runStage(merge: boolean, checkpointDir?: string) {
  const model = makeTinyModel({ family: 'gpt2', vocabSize: tokenizer.vocabSize, seed: 2 });
  const raw = model.clone();
  const config = CompressStageConfigSchema.parse({ steps: 12, lr: 0.05, prompts: 4, rollouts: 2, merge });
  const events: StageEvent[] = await lastValueFrom(new CompressStage('compress', config).run({ policy: { model, tokenizer, name: 'tiny' }, task, seed: 4, checkpointDir }).pipe(toArray()));
  const fin = events.at(-1)!;
  if (fin.type !== 'finished') throw new Error(`last event is ${fin.type}`);
  return { model, raw, events, fin, result: fin.result as { adapter: AdapterFile; merge: string | null } };
}

describe('CompressStage', () => {
  it('trains a temperature layer that lowers entropy, saves it, applies it, and removes it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'compress-stage-'));
    dirs.push(dir);
    const { model, raw, events, fin, result } = await runStage(false, dir);
    const ms = events.flatMap((e) => (e.type === 'metrics' ? [e.metrics] : []));
    expect(ms).toHaveLength(12);
    expect(ms.at(-1)!['loss']).toBeLessThan(ms[0]!['loss']!);
    const temperature = fin.summary['compress/temperature']!;
    expect(temperature).toBeLessThan(1); // sharper = lower entropy
    expect(result.merge).toBeNull();
    expect(result.adapter).toMatchObject({ name: 'em-compress', kind: 'temperature', provenance: { stage: 'compress' } });

    // saved as adapters/<name>.json in the stage checkpoint, loadable, same temperature
    const ckpt = events.filter((e) => e.type === 'checkpoint').at(-1); // the final one (step 10 is a mid-training save)
    if (!ckpt || ckpt.type !== 'checkpoint') throw new Error('no checkpoint event');
    const file = join(ckpt.path, 'adapters', 'em-compress.json');
    expect(existsSync(file)).toBe(true);
    const loaded = await loadAdapter(file);
    expect(loaded).toBeInstanceOf(TemperatureAdapter);
    expect((loaded as TemperatureAdapter).temperature()).toBeCloseTo(temperature, 5);
    loaded.dispose();

    // the returned policy has it applied: logits = raw / T, lower entropy
    expect(fin.policy.model).toBe(model);
    expect(model.getLogitsAdapter()?.name).toBe('em-compress');
    const [withAdapter, rawLogits] = [logitsOf(model), logitsOf(raw)];
    expect(maxAbsDiff(withAdapter, rawLogits)).toBeGreaterThan(1e-2);
    const expected = tf.div(rawLogits, temperature);
    expect(maxAbsDiff(withAdapter, expected)).toBeLessThan(1e-3);
    expect(meanEntropy(withAdapter)).toBeLessThan(meanEntropy(rawLogits));

    // removed: back to the raw model exactly
    model.setLogitsAdapter(null);
    const removed = logitsOf(model);
    expect(maxAbsDiff(removed, rawLogits)).toBe(0);
    tf.dispose([withAdapter, rawLogits, expected, removed]);
    model.dispose();
    raw.dispose();
  });

  it('merge: true folds the layer into the weights (logits = adapter-applied logits, no adapter left)', async () => {
    const { model, raw, result } = await runStage(true);
    expect(model.getLogitsAdapter()).toBeNull();
    expect(result.merge).toMatch(/^merged into transformer\.ln_f\.weight, transformer\.ln_f\.bias/);
    const adapter = adapterFromJSON(result.adapter);
    const rawLogits = logitsOf(raw);
    const applied = adapter.apply(rawLogits);
    const merged = logitsOf(model);
    expect(maxAbsDiff(merged, rawLogits)).toBeGreaterThan(1e-2);
    expect(maxAbsDiff(merged, applied)).toBeLessThan(1e-4);
    tf.dispose([rawLogits, applied, merged]);
    adapter.dispose();
    model.dispose();
    raw.dispose();
  });
});

describe('CompressStage logitsBudgetMiB', () => {
  it('refuses a frozen batch over the budget with an error naming the stage and the option to raise', async () => {
    const model = makeTinyModel({ family: 'gpt2', vocabSize: tokenizer.vocabSize, seed: 2 });
    // 4 prompts x 2 rollouts x (>= 1 prompt token + maxCompletionLength) positions x 258 x 4 bytes > 1/16 MiB.
    const config = CompressStageConfigSchema.parse({ steps: 1, prompts: 4, rollouts: 2, logitsBudgetMiB: 0.0625 });
    const run = lastValueFrom(new CompressStage('squeeze', config).run({ policy: { model, tokenizer, name: 'tiny' }, task, seed: 4 }).pipe(toArray()));
    await expect(run).rejects.toThrow(/stage "squeeze": the frozen logits would take up to .*over the 0\.0625 MiB logits budget.*raise logitsBudgetMiB/);
    model.dispose();
  });
});
