import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../generation/generate';
import { setupTestBackend } from '../testing';
import { trainCausalLM } from '../train/train-causal-lm';
import { loadPretrained, savePretrained } from './pretrained';

// The user flow on the committed Hugging Face fixture: load, generate, train a few steps,
// save, load back -- and the reloaded model is the trained one.
const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/tiny-qwen2');
let tmp: string;

beforeAll(async () => {
  await setupTestBackend();
  tmp = await mkdtemp(join(tmpdir(), 'emrl-user-flow-'));
});
afterAll(async () => rm(tmp, { recursive: true, force: true }));

function logits(model: Awaited<ReturnType<typeof loadPretrained>>['model'], ids: number[][]): Float32Array {
  return tf.tidy(() => model.forward(tf.tensor2d(ids, [ids.length, ids[0]!.length], 'int32')).dataSync() as Float32Array);
}

describe('load -> generate -> train -> save -> load (tiny Qwen2 fixture)', () => {
  it('round-trips a trained model through the Hugging Face directory layout', async () => {
    const { model, tokenizer } = await loadPretrained(FIXTURE);
    const prompt = tokenizer.encode('The answer is');
    const before = await generate(model, [prompt], { maxNewTokens: 6, temperature: 0, padTokenId: tokenizer.padTokenId });
    expect(before.tokens[0]!.length).toBeGreaterThan(0);

    const doc = tokenizer.encode('The answer is 12.8 mph. The answer is 12.8 mph.');
    const beforeLogits = logits(model, [doc]);
    const result = await trainCausalLM(model, {
      data: () => ({ docs: [doc, doc] }),
      batchSize: 2,
      steps: 5,
      padId: tokenizer.padTokenId,
      optimizer: { lr: 1e-2, weightDecay: 0 },
    });
    expect(result.losses.at(-1)!).toBeLessThan(result.losses[0]!);
    const trainedLogits = logits(model, [doc]);
    expect(trainedLogits.some((v, i) => Math.abs(v - beforeLogits[i]!) > 1e-3)).toBe(true);

    const dir = join(tmp, 'trained');
    await savePretrained(dir, model, tokenizer);
    const reloaded = await loadPretrained(dir);
    const again = logits(reloaded.model, [doc]);
    let maxDiff = 0;
    for (let i = 0; i < again.length; i++) maxDiff = Math.max(maxDiff, Math.abs(again[i]! - trainedLogits[i]!));
    expect(maxDiff).toBe(0);
    const after = await generate(reloaded.model, [prompt], { maxNewTokens: 6, temperature: 0, padTokenId: tokenizer.padTokenId });
    const afterOriginal = await generate(model, [prompt], { maxNewTokens: 6, temperature: 0, padTokenId: tokenizer.padTokenId });
    expect(after.tokens).toEqual(afterOriginal.tokens);
    model.dispose();
    reloaded.model.dispose();
  });
});
