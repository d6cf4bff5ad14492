import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyModel, setupTestBackend, tinyModelConfig } from '../testing';
import { CausalLM } from './causal-lm';
import type { LogitsAdapter } from './logits-adapter';
import { naiveForward, type HfArrays } from './naive-reference';

beforeAll(async () => {
  await setupTestBackend();
});

const FAMILIES = ['gpt2', 'llama'] as const;

function logitsOf(model: CausalLM, ids: number[][], mask?: number[][]): number[][][] {
  return tf.tidy(() => {
    const t = ids[0]!.length;
    const m = mask ? tf.tensor2d(mask.flat(), [ids.length, t], 'int32') : undefined;
    return model.forward(tf.tensor2d(ids.flat(), [ids.length, t], 'int32'), { attentionMask: m as tf.Tensor2D | undefined }).arraySync();
  });
}

function maxAbsDiff(a: number[], b: number[]): number {
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
}

function hfArrays(model: CausalLM): HfArrays {
  const hf = model.toHfTensors();
  const out: HfArrays = new Map();
  for (const [n, t] of hf) out.set(n, { shape: t.shape, data: t.dataSync() as Float32Array });
  tf.dispose([...hf.values()]);
  return out;
}

describe.each(FAMILIES)('CausalLM (%s)', (family) => {
  let model: CausalLM;
  beforeAll(() => {
    model = makeTinyModel({ family, seed: 3 });
  });
  afterAll(() => model.dispose());

  it('returns logits [B, T, V] and leaks no tensors', () => {
    const before = tf.memory().numTensors;
    const ids = tf.tensor2d([3, 4, 5, 6, 7, 8, 9, 10], [2, 4], 'int32');
    const logits = model.forward(ids);
    expect(logits.shape).toEqual([2, 4, 64]);
    expect(logits.dtype).toBe('float32');
    tf.dispose([ids, logits]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('matches an independent plain-JS implementation of the Hugging Face formulas', () => {
    const w = hfArrays(model);
    const ids = [0, 0, 5, 17, 42, 8, 3];
    const mask = [0, 0, 1, 1, 1, 1, 1];
    const ref = naiveForward(model.config, w, ids, mask);
    const got = logitsOf(model, [ids], [mask])[0]!;
    for (let t = 2; t < ids.length; t++) {
      const scale = Math.max(...ref[t]!.map(Math.abs));
      expect(maxAbsDiff(got[t]!, ref[t]!) / scale).toBeLessThan(1e-4);
    }
    // The model is not trivially flat: logits vary across the vocabulary.
    expect(Math.max(...ref[6]!) - Math.min(...ref[6]!)).toBeGreaterThan(1);
  });

  it('gives the same logits at real positions for a left-padded prompt (and right-padded response)', () => {
    const prompt = [7, 11, 13, 2, 9];
    const alone = logitsOf(model, [prompt])[0]!;
    const batch = logitsOf(
      model,
      [
        [0, 0, 0, ...prompt, 0, 0],
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
      ],
      [
        [0, 0, 0, 1, 1, 1, 1, 1, 0, 0],
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
      ],
    )[0]!;
    for (let t = 0; t < prompt.length; t++) expect(maxAbsDiff(batch[t + 3]!, alone[t]!)).toBeLessThan(1e-4);
    // Pad token ids do not matter either.
    const otherPad = logitsOf(model, [[33, 44, 55, ...prompt, 0, 0]], [[0, 0, 0, 1, 1, 1, 1, 1, 0, 0]])[0]!;
    for (let t = 3; t < 8; t++) expect(maxAbsDiff(otherPad[t]!, batch[t]!)).toBeLessThan(1e-4);
  });

  it('is causal: changing a later token leaves earlier logits unchanged', () => {
    const a = logitsOf(model, [[5, 6, 7, 8, 9, 10]])[0]!;
    const b = logitsOf(model, [[5, 6, 7, 30, 9, 10]])[0]!;
    for (let t = 0; t < 3; t++) expect(maxAbsDiff(a[t]!, b[t]!)).toBeLessThan(1e-6);
    expect(maxAbsDiff(a[3]!, b[3]!)).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(a[5]!, b[5]!)).toBeGreaterThan(1e-3);
  });

  it('round-trips through toHfTensors / fromHfTensors with identical logits', () => {
    const hf = model.toHfTensors();
    const copy = CausalLM.fromHfTensors(model.config, hf);
    tf.dispose([...hf.values()]);
    const ids = [[4, 8, 15, 16, 23, 42]];
    expect(logitsOf(copy, ids)).toEqual(logitsOf(model, ids));
    expect(copy.numParameters()).toBe(model.numParameters());
    copy.dispose();
  });

  it('names a missing tensor, a wrong shape and an unexpected tensor', () => {
    const hf = model.toHfTensors();
    const name = family === 'gpt2' ? 'transformer.h.1.mlp.c_fc.weight' : 'model.layers.1.self_attn.k_proj.weight';
    const shape = family === 'gpt2' ? '[32, 64]' : '[16, 32]';
    const original = hf.get(name)!;
    hf.delete(name);
    expect(() => CausalLM.fromHfTensors(model.config, hf)).toThrow(`missing tensor ${name} ${shape}`);
    const wrong = tf.zeros([3, 3]);
    hf.set(name, wrong);
    expect(() => CausalLM.fromHfTensors(model.config, hf)).toThrow(`tensor ${name} has shape [3, 3], expected ${shape}`);
    hf.set(name, original);
    const extra = tf.zeros([2]);
    hf.set('model.layers.9.foo', extra);
    expect(() => CausalLM.fromHfTensors(model.config, hf)).toThrow('unexpected tensor model.layers.9.foo');
    tf.dispose([...hf.values(), wrong]);
  });

  it('init is deterministic per seed with GPT-2 scales', () => {
    const c = tinyModelConfig({ family });
    const a = CausalLM.init(c, 1);
    const b = CausalLM.init(c, 1);
    const d = CausalLM.init(c, 2);
    const wName = family === 'gpt2' ? 'transformer.h.0.mlp.c_fc.weight' : 'model.layers.0.mlp.up_proj.weight';
    const rName = family === 'gpt2' ? 'transformer.h.0.mlp.c_proj.weight' : 'model.layers.0.mlp.down_proj.weight';
    const w = a.weights.get(wName)!.dataSync();
    expect(b.weights.get(wName)!.dataSync()).toEqual(w);
    expect(d.weights.get(wName)!.dataSync()).not.toEqual(w);
    const std = (x: ArrayLike<number>): number => Math.sqrt(Array.from(x).reduce((s, v) => s + v * v, 0) / x.length);
    expect(std(w)).toBeGreaterThan(0.018);
    expect(std(w)).toBeLessThan(0.022);
    expect(std(a.weights.get(rName)!.dataSync())).toBeCloseTo(0.02 / Math.sqrt(4), 2);
    [a, b, d].forEach((m) => m.dispose());
  });
});

describe('CausalLM details', () => {
  it('stores Llama linear weights [in, out] and writes them back [out, in]', () => {
    const m = makeTinyModel({ family: 'llama', tieWordEmbeddings: false });
    expect(m.weights.get('model.layers.0.self_attn.k_proj.weight')!.shape).toEqual([32, 16]);
    expect(m.weights.get('lm_head.weight')!.shape).toEqual([32, 64]);
    const hf = m.toHfTensors();
    expect(hf.get('model.layers.0.self_attn.k_proj.weight')!.shape).toEqual([16, 32]);
    expect(hf.get('lm_head.weight')!.shape).toEqual([64, 32]);
    expect(hf.has('model.layers.0.self_attn.q_proj.bias')).toBe(true);
    tf.dispose([...hf.values()]);
    // 2 layers: norms 2*32, q 32*32+32, k/v 2*(32*16+16), o 32*32, mlp 3*32*64; + embed, norm, head.
    const perLayer = 64 + 32 * 32 + 32 + 2 * (32 * 16 + 16) + 32 * 32 + 3 * 32 * 64;
    expect(m.numParameters()).toBe(2 * perLayer + 64 * 32 + 32 + 32 * 64);
    m.dispose();
  });

  it('accepts GPT-2 checkpoints saved without the "transformer." prefix and with attn.bias buffers', () => {
    const m = makeTinyModel({ family: 'gpt2' });
    const hf = m.toHfTensors();
    const renamed = new Map<string, tf.Tensor>();
    for (const [n, t] of hf) renamed.set(n.replace(/^transformer\./, ''), t);
    const buffer = tf.ones([1, 1, 128, 128]);
    renamed.set('h.0.attn.bias', buffer);
    const copy = CausalLM.fromHfTensors(m.config, renamed);
    expect(logitsOf(copy, [[1, 2, 3]])).toEqual(logitsOf(m, [[1, 2, 3]]));
    tf.dispose([...hf.values(), buffer]);
    [m, copy].forEach((x) => x.dispose());
  });

  it('applies the logits adapter and exposes its variables', () => {
    const m = makeTinyModel({ family: 'llama' });
    const scale = tf.variable(tf.scalar(2));
    const adapter: LogitsAdapter = { name: 'double', variables: () => [scale], apply: (l) => tf.mul(l, scale) };
    const plain = logitsOf(m, [[3, 4, 5]])[0]!;
    m.setLogitsAdapter(adapter);
    const adapted = logitsOf(m, [[3, 4, 5]])[0]!;
    expect(maxAbsDiff(adapted[2]!, plain[2]!.map((v) => 2 * v))).toBeLessThan(1e-5);
    expect(m.trainableVariables()).toContain(scale);
    expect(m.trainableVariables({ includeAdapter: false })).not.toContain(scale);
    m.setLogitsAdapter(null);
    expect(logitsOf(m, [[3, 4, 5]])[0]).toEqual(plain);
    m.dispose();
    scale.dispose();
  });

  it('clone() is a deep copy', () => {
    const m = makeTinyModel({ family: 'gpt2' });
    const c = m.clone();
    const before = logitsOf(c, [[1, 2, 3]]);
    const w = m.weights.get('transformer.h.0.mlp.c_fc.weight')!;
    w.assign(tf.tidy(() => tf.mul(w, 1.5)));
    expect(logitsOf(c, [[1, 2, 3]])).toEqual(before);
    expect(logitsOf(m, [[1, 2, 3]])).not.toEqual(before);
    m.dispose();
    expect(logitsOf(c, [[1, 2, 3]])).toEqual(before);
    c.dispose();
  });

  it('rejects a mask whose shape does not match inputIds', () => {
    const m = makeTinyModel({ family: 'gpt2' });
    const ids = tf.tensor2d([1, 2, 3], [1, 3], 'int32');
    const mask = tf.ones([1, 4]) as tf.Tensor2D;
    expect(() => m.forward(ids, { attentionMask: mask })).toThrow(/attentionMask is \[1, 4\], expected \[1, 3\]/);
    tf.dispose([ids, mask]);
    m.dispose();
  });
});
