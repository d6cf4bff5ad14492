import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KVCache } from '../model/kv-cache';
import type { CausalLM } from '../model/causal-lm';
import { makeTinyModel, setupTestBackend } from '../testing';
import { generate } from './generate';

beforeAll(async () => {
  await setupTestBackend();
});

const PROMPTS = [[1, 5, 9, 12], [1, 7], [1, 30, 31, 32, 33, 34]];

describe.each(['gpt2', 'llama'] as const)('generate (%s)', (family) => {
  let model: CausalLM;
  beforeAll(() => {
    model = makeTinyModel({ family, seed: 5 });
  });
  afterAll(() => model.dispose());

  it('KV-cached greedy decoding equals recomputing the full forward each step', async () => {
    const opts = { maxNewTokens: 12, temperature: 0, stopTokenIds: [] };
    const cached = await generate(model, PROMPTS, opts);
    const full = await generate(model, PROMPTS, { ...opts, useCache: false });
    expect(cached.tokens).toEqual(full.tokens);
    cached.logprobs.flat().forEach((lp, i) => expect(Math.abs(lp - full.logprobs.flat()[i]!)).toBeLessThan(1e-4));
    expect(cached.tokens.every((t) => t.length === 12)).toBe(true);
    expect(cached.finishReasons).toEqual(['length', 'length', 'length']);
    expect(cached.numGeneratedTokens).toBe(36);
    // Not degenerate: rows differ.
    expect(new Set(cached.tokens.map((t) => t.join(','))).size).toBeGreaterThan(1);
  });

  it('step logits with the cache agree with the full forward within 1e-4', () => {
    const ids = [[0, 0, 3, 4, 5], [6, 7, 8, 9, 10]];
    const mask = [[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]];
    const next = [[11, 12, 13], [14, 15, 16]];
    const cache = new KVCache(model.config.numLayers);
    const t2 = (rows: number[][]): tf.Tensor2D => tf.tensor2d(rows.flat(), [rows.length, rows[0]!.length], 'int32');
    const prefill = tf.tidy(() => model.forward(t2(ids), { attentionMask: t2(mask), cache }).arraySync());
    const full0 = tf.tidy(() => model.forward(t2(ids), { attentionMask: t2(mask) }).arraySync());
    expect(prefill).toEqual(full0);
    for (let s = 0; s < next[0]!.length; s++) {
      const col = next.map((r) => [r[s]!]);
      const step = tf.tidy(() => model.forward(t2(col), { attentionMask: t2([[1], [1]]), cache }).arraySync());
      const allIds = ids.map((r, b) => [...r, ...next[b]!.slice(0, s + 1)]);
      const allMask = mask.map((r) => [...r, ...new Array<number>(s + 1).fill(1)]);
      const full = tf.tidy(() => model.forward(t2(allIds), { attentionMask: t2(allMask) }).arraySync());
      for (let b = 0; b < 2; b++) {
        const want = full[b]![allIds[0]!.length - 1]!;
        const got = step[b]![0]!;
        expect(Math.max(...got.map((v, i) => Math.abs(v - want[i]!)))).toBeLessThan(1e-4);
      }
    }
    expect(cache.length).toBe(8);
    cache.dispose();
  });

  it('seeded sampling is reproducible; different seeds differ', async () => {
    const opts = { maxNewTokens: 10, temperature: 1, topP: 0.95, stopTokenIds: [] };
    const a = await generate(model, PROMPTS, { ...opts, seed: 1 });
    const b = await generate(model, PROMPTS, { ...opts, seed: 1 });
    const c = await generate(model, PROMPTS, { ...opts, seed: 2 });
    expect(b).toEqual(a);
    expect(c.tokens).not.toEqual(a.tokens);
    expect(a.logprobs.flat().every((lp) => lp <= 0 && Number.isFinite(lp))).toBe(true);
  });

  it('rowSeeds: a row samples the same tokens alone or in any batch', async () => {
    const opts = { maxNewTokens: 10, temperature: 1, stopTokenIds: [] };
    const seeds = PROMPTS.map((_, i) => 100 + i);
    const all = await generate(model, PROMPTS, { ...opts, rowSeeds: seeds });
    const last = PROMPTS.length - 1;
    const alone = await generate(model, [PROMPTS[last]!], { ...opts, rowSeeds: [seeds[last]!] });
    const reversed = await generate(model, [...PROMPTS].reverse(), { ...opts, rowSeeds: [...seeds].reverse() });
    expect(alone.tokens[0]).toEqual(all.tokens[last]);
    expect([...reversed.tokens].reverse()).toEqual(all.tokens);
    const other = await generate(model, PROMPTS, { ...opts, rowSeeds: seeds.map((s) => s + 1) });
    expect(other.tokens).not.toEqual(all.tokens);
    await expect(generate(model, PROMPTS, { ...opts, rowSeeds: [1] })).rejects.toThrow(/rowSeeds has 1 seeds for/);
  });

  it('top-k 1 equals greedy', async () => {
    const greedy = await generate(model, PROMPTS, { maxNewTokens: 8, temperature: 0, stopTokenIds: [] });
    const k1 = await generate(model, PROMPTS, { maxNewTokens: 8, temperature: 1.5, topK: 1, seed: 9, stopTokenIds: [] });
    expect(k1.tokens).toEqual(greedy.tokens);
    expect(k1.logprobs.flat().every((lp) => lp === 0)).toBe(true);
  });

  it('stops a row at its stop token (kept), other rows continue; no pad in the output', async () => {
    const greedy = await generate(model, PROMPTS, { maxNewTokens: 8, temperature: 0, stopTokenIds: [] });
    const stopTok = greedy.tokens[0]![2]!;
    const firstStop = greedy.tokens.map((t) => t.indexOf(stopTok));
    const r = await generate(model, PROMPTS, { maxNewTokens: 8, temperature: 0, stopTokenIds: [stopTok] });
    r.tokens.forEach((t, b) => {
      const k = firstStop[b]!;
      expect(t).toEqual(k >= 0 ? greedy.tokens[b]!.slice(0, k + 1) : greedy.tokens[b]);
      expect(r.finishReasons[b]).toBe(k >= 0 ? 'stop' : 'length');
    });
    expect(r.numGeneratedTokens).toBe(r.tokens.flat().length);
  });

  it('keeps tf.memory().numTensors flat over 20 generate calls', async () => {
    await generate(model, PROMPTS, { maxNewTokens: 3, seed: 0 });
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) await generate(model, PROMPTS, { maxNewTokens: 3, seed: i, useCache: i % 2 === 0 });
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('generate input checks', () => {
  it('names the bad field', async () => {
    const m = makeTinyModel({ family: 'gpt2' });
    await expect(generate(m, [[1, 2]], { topP: 0 })).rejects.toThrow(/topP/);
    await expect(generate(m, [[1, 99]], {})).rejects.toThrow(/promptIds\[0\] has token id 99 outside \[0, 64\)/);
    await expect(generate(m, [[]], {})).rejects.toThrow(/promptIds\[0\] is empty/);
    await expect(generate(m, [[1]], { maxNewTokens: 200 })).rejects.toThrow(/maxPositions 128/);
    m.dispose();
  });
});

describe('generate with non-finite logits', () => {
  it('stops with the generation step and row instead of emitting a token', async () => {
    const model = makeTinyModel({ family: 'llama', seed: 2 });
    let calls = 0;
    // NaN logits in batch row 1 from the third forward pass on (step 2 with the KV cache).
    model.setLogitsAdapter({
      name: 'nan-at-step-2',
      variables: () => [],
      apply: (logits) => {
        calls++;
        if (calls < 3) return tf.clone(logits);
        const [b, t, v] = logits.shape;
        const rowMask = tf.tensor3d(Array.from({ length: b * t * v }, (_, i) => (Math.floor(i / (t * v)) === 1 ? NaN : 0)), [b, t, v]);
        return tf.add(logits, rowMask);
      },
    });
    try {
      const err = await generate(model, [[1, 2], [1, 3, 4]], { maxNewTokens: 6, temperature: 0, stopTokenIds: [] }).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(/^non-finite logits at generation step 2, batch row 1: \d+ of \d+ logits are NaN/);
    } finally {
      model.dispose();
    }
  });
});
