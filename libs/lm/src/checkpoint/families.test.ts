import * as tf from '@tensorflow/tfjs-core';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ropeFrequencies } from '../model/rope-scaling';
import { setupTestBackend } from '../testing';
import { loadPretrained, type Pretrained } from './pretrained';

// Fixtures: tools/make-tiny-hf-families.ts; expected logits: tools/torch_reference_families.py (float64 torch).
const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures');

interface Expected {
  input_ids: number[][];
  inv_freq?: number[];
  attention_factor?: number;
  logits: number[][][];
}

const loaded = new Map<string, { p: Pretrained; expected: Expected }>();

beforeAll(async () => {
  await setupTestBackend();
  for (const name of ['tiny-qwen3', 'tiny-llama3', 'tiny-llama-bias', 'tiny-gpt2-untied']) {
    const expected = JSON.parse(await readFile(join(FIXTURES, name, 'expected_logits.json'), 'utf8')) as Expected;
    loaded.set(name, { p: await loadPretrained(join(FIXTURES, name)), expected });
  }
});
afterAll(() => {
  for (const { p } of loaded.values()) p.model.dispose();
});

function maxAbsLogitError(p: Pretrained, expected: Expected): number {
  const ids = expected.input_ids;
  const got = tf.tidy(() => p.model.forward(tf.tensor2d(ids, [ids.length, ids[0]!.length], 'int32')).dataSync());
  const want = expected.logits.flat(2);
  expect(got.length).toBe(want.length);
  let m = 0;
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(got[i]! - want[i]!));
  return m;
}

describe.each([
  ['tiny-qwen3', { modelType: 'qwen3', qkNorm: true, headDim: 8, hiddenSize: 16, numHeads: 4, numKvHeads: 2, attentionBias: false, tieWordEmbeddings: false }],
  ['tiny-llama3', { modelType: 'llama', qkNorm: false, numHeads: 2, numKvHeads: 1, tieWordEmbeddings: true, eosTokenIds: [256, 258] }],
  ['tiny-llama-bias', { modelType: 'llama', attentionBias: true, attentionOutBias: true, mlpBias: true, ropeTheta: 500, ropeScaling: { type: 'linear', factor: 2 } }],
  ['tiny-gpt2-untied', { modelType: 'gpt2', activation: 'gelu', tieWordEmbeddings: false }],
])('%s against an independent float64 PyTorch forward', (name, want) => {
  it('parses the family config', () => {
    expect(loaded.get(name)!.p.config).toMatchObject(want);
  });

  it('matches the reference logits within 1e-4', () => {
    const { p, expected } = loaded.get(name)!;
    const err = maxAbsLogitError(p, expected);
    expect(err).toBeLessThan(1e-4);
  });

  it('uses the rotary frequencies the reference computed', () => {
    const { p, expected } = loaded.get(name)!;
    if (!expected.inv_freq) return expect(p.config.family).toBe('gpt2');
    const f = ropeFrequencies(p.config.headDim, p.config.ropeTheta, p.config.ropeScaling);
    expected.inv_freq.forEach((v, i) => expect(Math.abs(f.invFreq[i]! - v) / v).toBeLessThan(1e-6));
    expect(f.attentionScaling).toBeCloseTo(expected.attention_factor!, 12);
  });
});

describe('the scaled rope is what makes the logits match', () => {
  it('tiny-llama3 without its llama3 rope_scaling is off by more than the tolerance', async () => {
    const { p, expected } = loaded.get('tiny-llama3')!;
    const plain = p.model.clone();
    // Same weights, unscaled rope: a model built from a config without rope_scaling.
    const { CausalLM } = await import('../model/causal-lm');
    const tensors = plain.toHfTensors();
    const unscaled = CausalLM.fromHfTensors({ ...p.config, ropeScaling: null }, tensors);
    for (const t of tensors.values()) t.dispose();
    try {
      expect(maxAbsLogitError({ ...p, model: unscaled }, expected)).toBeGreaterThan(1e-3);
    } finally {
      plain.dispose();
      unscaled.dispose();
    }
  });
});

describe('no checkpoint tensor is dropped silently', () => {
  it('a tied config accepts lm_head.weight only when it equals the embedding', async () => {
    const { CausalLM } = await import('../model/causal-lm');
    const { p } = loaded.get('tiny-llama3')!;
    const tensors = p.model.toHfTensors();
    const embed = tensors.get('model.embed_tokens.weight')!;
    try {
      tensors.set('lm_head.weight', tf.clone(embed));
      CausalLM.fromHfTensors(p.config, tensors).dispose();
      tensors.get('lm_head.weight')!.dispose();
      tensors.set('lm_head.weight', tf.add(embed, 0.01));
      expect(() => CausalLM.fromHfTensors(p.config, tensors)).toThrow(/lm_head\.weight different from model\.embed_tokens\.weight.*"tie_word_embeddings": false/);
    } finally {
      for (const t of tensors.values()) t.dispose();
    }
  });

  it('GPT-2: an untied head loads, and a config that ties it refuses the checkpoint instead of dropping lm_head', async () => {
    const { p } = loaded.get('tiny-gpt2-untied')!;
    expect(p.model.weights.has('lm_head.weight')).toBe(true);
    const { CausalLM } = await import('../model/causal-lm');
    const tensors = p.model.toHfTensors();
    try {
      expect(() => CausalLM.fromHfTensors({ ...p.config, tieWordEmbeddings: true }, tensors)).toThrow(/lm_head\.weight different from transformer\.wte\.weight/);
      const wpe = tensors.get('transformer.wpe.weight')!;
      tensors.set('transformer.wpe.weight', tf.cast(wpe, 'int32'));
      expect(() => CausalLM.fromHfTensors(p.config, tensors)).toThrow(/tensor transformer\.wpe\.weight has dtype int32; model weights must be floating point/);
      tensors.get('transformer.wpe.weight')!.dispose();
      tensors.set('transformer.wpe.weight', wpe);
      tensors.set('transformer.h.0.attn.rotary_emb.inv_freq', tf.zeros([4])); // on the documented ignore list
      tensors.set('transformer.h.0.mlp.extra.weight', tf.zeros([4]));
      expect(() => CausalLM.fromHfTensors(p.config, tensors)).toThrow(/unexpected tensor transformer\.h\.0\.mlp\.extra\.weight/);
    } finally {
      for (const t of tensors.values()) t.dispose();
    }
  });
});

describe('sliding window (Qwen2/Qwen3 use_sliding_window, max_window_layers)', () => {
  it('matches the torch forward with a window of 3 on layer 1, and cached generation equals uncached', async () => {
    const { CausalLM } = await import('../model/causal-lm');
    const { parseHfConfig } = await import('../hf-config/index');
    const { generate } = await import('../generation/generate');
    const dir = join(FIXTURES, 'tiny-qwen3');
    const sliding = JSON.parse(await readFile(join(dir, 'expected_logits_sliding.json'), 'utf8')) as Expected & { config_patch: Record<string, unknown> };
    const json = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    const config = parseHfConfig({ ...json, ...sliding.config_patch }, 'patched config.json');
    expect(config).toMatchObject({ slidingWindow: 3, maxWindowLayers: 1 });
    const { p, expected } = loaded.get('tiny-qwen3')!;
    const tensors = p.model.toHfTensors();
    const model = CausalLM.fromHfTensors(config, tensors);
    for (const t of tensors.values()) t.dispose();
    try {
      expect(maxAbsLogitError({ ...p, model }, sliding)).toBeLessThan(1e-4);
      expect(maxAbsLogitError({ ...p, model }, expected)).toBeGreaterThan(1e-3); // the window binds
      const prompts = [[256, 116, 104, 101], [5, 100]];
      const opts = { maxNewTokens: 6, temperature: 0, stopTokenIds: [] as number[] };
      expect((await generate(model, prompts, opts)).tokens).toEqual((await generate(model, prompts, { ...opts, useCache: false })).tokens);
    } finally {
      model.dispose();
    }
  });
});

describe('dynamic rope is exact below its length and refused above it', () => {
  it.each([['dynamic rope', { ropeScaling: { type: 'dynamic', factor: 2, originalMaxPositions: 6 } }, /8 positions exceed 6, where dynamic NTK/]] as const)('%s', async (_name, patch, error) => {
    const { CausalLM } = await import('../model/causal-lm');
    const { p } = loaded.get('tiny-qwen3')!;
    const tensors = p.model.toHfTensors();
    // The fixture's yarn rope is replaced by plain rope so that "dynamic" can be compared with it.
    const plainCfg = { ...p.config, ropeScaling: null };
    const plain = CausalLM.fromHfTensors(plainCfg, tensors);
    const limited = CausalLM.fromHfTensors({ ...plainCfg, ...patch }, tensors);
    for (const t of tensors.values()) t.dispose();
    try {
      const ids6 = tf.tensor2d([[256, 116, 104, 101, 32, 99]], [1, 6], 'int32');
      const ids8 = tf.tensor2d([[256, 116, 104, 101, 32, 99, 97, 116]], [1, 8], 'int32');
      const [a, b] = [plain.forward(ids6), limited.forward(ids6)];
      expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
      expect(() => limited.forward(ids8)).toThrow(error);
      tf.dispose([ids6, ids8, a, b]);
    } finally {
      plain.dispose();
      limited.dispose();
    }
  });
});

describe('KV-cached generation equals recomputing the full forward', () => {
  it.each(['tiny-qwen3', 'tiny-llama3', 'tiny-llama-bias', 'tiny-gpt2-untied'])('%s', async (name) => {
    const { generate } = await import('../generation/generate');
    const { p } = loaded.get(name)!;
    const prompts = [[256, 116, 104, 101], [5, 100]]; // left padding on row 1
    const opts = { maxNewTokens: 6, temperature: 0, stopTokenIds: [] as number[] };
    const cached = await generate(p.model, prompts, opts);
    const full = await generate(p.model, prompts, { ...opts, useCache: false });
    expect(cached.tokens).toEqual(full.tokens);
  });
});
