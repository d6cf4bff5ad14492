import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CausalLM } from '../model/causal-lm';
import { makeTinyModel, setupTestBackend } from '../testing';
import { generate } from './generate';

// Issue #11 outside the trainer: at a 151,936 vocabulary a step of generate() must hold at most
// [B, V] logits (never [B, T, V]) and download them to JS once. Checked on a vocabulary (4,096)
// far larger than B and T so that the two bounds are far apart: every kernel output that carries a
// vocabulary axis is at most B x V elements, and the float downloads of >= V values are one per step.

const B = 3;
const V = 4096;
const PROMPTS = [[1, 5, 9, 12, 40, 41, 42, 43], [1, 7], [1, 30, 31, 32, 33, 34]];
const STEPS = 6;

beforeAll(async () => {
  await setupTestBackend();
});

/** Calls of data() / dataSync() on tensors of at least `minSize` elements while `f` runs. */
async function countDownloads<T>(minSize: number, f: () => Promise<T>): Promise<{ result: T; downloads: number }> {
  const proto = tf.Tensor.prototype as unknown as { data: (...a: unknown[]) => Promise<unknown>; dataSync: (...a: unknown[]) => unknown };
  const [data, dataSync] = [proto.data, proto.dataSync];
  let downloads = 0;
  proto.data = function (this: tf.Tensor, ...a: unknown[]) {
    if (this.size >= minSize) downloads++;
    return data.apply(this, a);
  };
  proto.dataSync = function (this: tf.Tensor, ...a: unknown[]) {
    if (this.size >= minSize) downloads++;
    return dataSync.apply(this, a);
  };
  try {
    return { result: await f(), downloads };
  } finally {
    proto.data = data;
    proto.dataSync = dataSync;
  }
}

describe.each(['gpt2', 'llama'] as const)('generate at a large vocabulary (%s)', (family) => {
  let model: CausalLM;
  beforeAll(() => {
    model = makeTinyModel({ family, vocabSize: V, seed: 5, weightScale: 2 });
  });
  afterAll(() => model.dispose());

  it.each([true, false])('useCache %s: no kernel output larger than [B, V] on a vocabulary axis; one [B, V] download per step (top-p and top-k sampling)', async (useCache) => {
    const opts = { maxNewTokens: STEPS, temperature: 1, topP: 0.9, topK: 50, stopTokenIds: [], seed: 3, useCache };
    const profile = await tf.profile(async () => {
      const { result, downloads } = await countDownloads(V, () => generate(model, PROMPTS, opts));
      expect(result.tokens.every((t) => t.length === STEPS)).toBe(true);
      expect(downloads).toBe(STEPS);
      return [] as tf.Tensor[];
    });
    const withVocab = profile.kernels.flatMap((k) => k.outputShapes.filter((s) => s.includes(V)).map((s) => ({ name: k.name, shape: s, size: s.reduce((x, y) => x * y, 1) })));
    // The head's logits are there (so the check sees them), and none is bigger than [B, V].
    expect(withVocab.some((o) => o.size === B * V)).toBe(true);
    // A small tied head is transposed once per cache ([D, V], a copy of the weight, not an
    // activation; large ones are read in place, decode-kernels.test.ts): at most once per call.
    const D = model.config.hiddenSize;
    const isHeadCopy = (o: { name: string; shape: number[] }): boolean => o.name === 'Transpose' && o.shape.length === 2 && o.shape[0] === D && o.shape[1] === V;
    expect(withVocab.filter(isHeadCopy).length).toBeLessThanOrEqual(useCache && model.config.tieWordEmbeddings ? 1 : 0);
    const tooBig = withVocab.filter((o) => o.size > B * V && !isHeadCopy(o));
    expect(tooBig).toEqual([]);
  });
});
