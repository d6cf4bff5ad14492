import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CausalLM } from '@emrl/lm';
import { makeTinyModel, setupTestBackend } from '@emrl/lm/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adapterPath, loadAdapter, saveAdapter, TemperatureAdapter, VectorScalingAdapter } from './compression';
import { mergeIntoHead } from './compression-merge';
import { adapterParameters, modelParameters, Trainer, type Sampler } from '@emrl/rl-grpo';
import type { PackedArrays } from '@emrl/lm';
import { EmLossTerm } from '../regularizer/regularizer';
import { tokenEntropyLoss } from '../shared/losses';
import { gaussian, mulberry32 } from '../shared/rng';
import { randomLogits } from '../testing';

let dir = '';
beforeAll(async () => {
  await setupTestBackend();
  dir = await mkdtemp(join(tmpdir(), 'em-compression-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const MASK = [
  [0, 1, 1, 1],
  [1, 1, 0, 0],
];

describe('TemperatureAdapter', () => {
  it('gradient w.r.t. log T matches the closed form sum_j p_j (log p_j + H) u_j / tau', () => {
    const tau = 0.5;
    const adapter = new TemperatureAdapter({ temperature: 1.7 });
    const logits = randomLogits(21, 2, 4, 6);
    const mask = tf.tensor2d(MASK);
    const { grads } = tf.variableGrads(() => tokenEntropyLoss({ logits: adapter.apply(logits), lossMask: mask, temperature: tau }), adapter.variables());
    const got = Object.values(grads)[0]!.dataSync()[0]!;
    // Double-precision closed form: u = z / T, p = softmax(u / tau), dH/ds = sum_j p_j (log p_j + H) u_j / tau.
    const T = 1.7;
    let total = 0;
    let n = 0;
    logits.arraySync().forEach((row, b) =>
      row.forEach((z, t) => {
        if (!MASK[b]![t]) return;
        const u = z.map((x) => x / T);
        const s = u.map((x) => x / tau);
        const m = Math.max(...s);
        const e = s.map((x) => Math.exp(x - m));
        const sum = e.reduce((a, c) => a + c, 0);
        const p = e.map((x) => x / sum);
        const h = -p.reduce((a, pj) => a + pj * Math.log(pj), 0);
        total += p.reduce((a, pj, j) => a + pj * (Math.log(pj) + h) * u[j]!, 0) / tau;
        n += 1;
      }),
    );
    expect(got).toBeCloseTo(total / n, 5);
    expect(adapter.temperature()).toBeCloseTo(1.7, 5);
    tf.dispose([logits, mask, ...Object.values(grads)]);
    adapter.dispose();
  });
});

/** A frozen batch of given logits and loss mask (the compression sampler's shape, without a model). */
function frozenSampler(logits: tf.Tensor3D, mask: number[][]): Sampler {
  const [B, T] = [mask.length, mask[0]!.length];
  const packed: PackedArrays = {
    batchSize: B,
    seqLen: T,
    promptLength: 1,
    inputIds: new Int32Array(B * T),
    attentionMask: new Float32Array(B * T).fill(1),
    targets: new Int32Array(B * T),
    lossMask: Float32Array.from(mask.flat()),
    promptLengths: mask.map(() => 1),
    responseLengths: mask.map(() => T - 1),
  };
  return { description: 'fixed logits', collect: async () => ({ packed, groupSize: 1, frozenLogits: logits, metrics: {}, generatedTokens: 0 }) };
}

describe('compression as a trainer configuration (frozen batch, EM term, adapter parameters)', () => {
  it('lowers the EM loss on fixed random logits (temperature and vector scaling + low rank); model weights untouched', async () => {
    const logits = randomLogits(22, 3, 5, 12, 1);
    const mask = [
      [0, 1, 1, 1, 1],
      [0, 0, 1, 1, 1],
      [1, 1, 1, 1, 0],
    ];
    const before = logits.arraySync();
    const model = makeTinyModel({ family: 'gpt2', vocabSize: 12 });
    const weightsBefore = [...model.weights.values()].map((w) => w.arraySync());
    for (const adapter of [new TemperatureAdapter(), new VectorScalingAdapter({ vocabSize: 12, rank: 2, seed: 3 })]) {
      const trainer = new Trainer({
        id: 'compress',
        model,
        sampler: frozenSampler(logits, mask),
        terms: [new EmLossTerm({ temperature: 0.5, coef: { type: 'fixed', value: 1 } }, 'em')],
        parameters: adapterParameters(adapter),
        optimizer: { lr: 0.05, weightDecay: 0, gradClip: 1 },
        totalSteps: 15,
        temperature: 0.5,
      });
      const losses: number[] = [];
      for (let s = 0; s < 15; s++) losses.push((await trainer.step(s)).metrics['em/entropy']!);
      expect(losses[14]!).toBeLessThan(losses[0]! - 0.05);
      // The first step's loss is the EM loss of the untrained (identity) adapter: an independent computation.
      const identity = tokenEntropyLoss({ logits, lossMask: tf.tensor2d(mask), temperature: 0.5 }).dataSync()[0]!;
      expect(losses[0]!).toBeCloseTo(identity, 5);
      const after = tokenEntropyLoss({ logits: adapter.apply(logits), lossMask: tf.tensor2d(mask), temperature: 0.5 }).dataSync()[0]!;
      expect(after).toBeLessThan(losses[0]!);
      trainer.dispose();
      adapter.dispose();
    }
    expect(logits.isDisposed).toBe(false);
    expect(logits.arraySync()).toEqual(before);
    expect([...model.weights.values()].map((w) => w.arraySync())).toEqual(weightsBefore);
    model.dispose();
    tf.dispose(logits);
  });

  it('refuses a frozen batch when the model weights are what trains', async () => {
    const logits = randomLogits(23, 1, 3, 4);
    const model = makeTinyModel({ family: 'gpt2', vocabSize: 4 });
    const trainer = new Trainer({
      id: 'x',
      model,
      sampler: frozenSampler(logits, [[1, 1, 1]]),
      terms: [new EmLossTerm({ coef: { type: 'fixed', value: 1 } }, 'em')],
      parameters: modelParameters(model),
      optimizer: { lr: 0.05, weightDecay: 0, gradClip: 0 },
      totalSteps: 1,
      temperature: 1,
    });
    await expect(trainer.step(0)).rejects.toThrow(/frozen logits.*only adapter parameters/);
    trainer.dispose();
    model.dispose();
    logits.dispose();
  });
});

describe('adapter files', () => {
  it('save/load round trip reproduces the adapter output', async () => {
    const a = new VectorScalingAdapter({ vocabSize: 6, rank: 2, seed: 4, name: 'vs' });
    a.scale.assign(tf.tensor1d([1, 2, 0.5, 1, 1.5, 3]));
    a.bias.assign(tf.tensor1d([0, 0.1, -0.2, 0, 0.3, 0]));
    a.wb!.assign(tf.randomNormal([2, 6], 0, 0.3, 'float32', 9));
    const t = new TemperatureAdapter({ temperature: 0.42 });
    const logits = randomLogits(24, 2, 3, 6);
    for (const adapter of [a, t]) {
      const path = await saveAdapter(adapter, dir, { baseModel: 'unit-test', steps: 3 });
      expect(path).toBe(adapterPath(dir, adapter.name));
      const loaded = await loadAdapter(dir, adapter.name);
      expect(loaded.kind).toBe(adapter.kind);
      const x = adapter.apply(logits).arraySync();
      const y = loaded.apply(logits).arraySync();
      expect(y).toEqual(x);
      const file = JSON.parse(await readFile(path, 'utf8'));
      expect(file.provenance.baseModel).toBe('unit-test');
      expect(typeof file.provenance.createdAt).toBe('string');
      loaded.dispose();
    }
    // no temp files left behind by the atomic write
    expect((await readdir(join(dir, 'adapters'))).sort()).toEqual(['temperature.json', 'vs.json']);
    tf.dispose(logits);
    a.dispose();
    t.dispose();
  });

  it('rejects a file whose values do not match its shape, naming the tensor', async () => {
    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ format: 'emrl-logits-adapter', version: 1, name: 'x', kind: 'vector-scaling', vocabSize: 3, tensors: { scale: { shape: [3], values: [1, 2] }, bias: { shape: [3], values: [0, 0, 0] } } }));
    await expect(loadAdapter(bad)).rejects.toThrow(/tensors\.scale|needs 3 values/);
    await expect(loadAdapter(join(dir, 'missing.json'))).rejects.toThrow(/cannot read/);
  });
});

// Independent re-implementation of the head: y = final norm(x), z = y W^T (W in HF layout [V, D]).
function headLogits(hf: ReadonlyMap<string, tf.Tensor>, x: tf.Tensor2D, family: 'gpt2' | 'llama'): tf.Tensor3D {
  return tf.tidy(() => {
    let y: tf.Tensor2D;
    let w: tf.Tensor;
    if (family === 'gpt2') {
      const { mean, variance } = tf.moments(x, -1, true);
      y = tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), hf.get('transformer.ln_f.weight')!), hf.get('transformer.ln_f.bias')!) as tf.Tensor2D;
      w = hf.get('transformer.wte.weight')!;
    } else {
      y = tf.mul(tf.div(x, tf.sqrt(tf.add(tf.mean(tf.square(x), -1, true), 1e-6))), hf.get('model.norm.weight')!) as tf.Tensor2D;
      w = hf.get('lm_head.weight')!;
    }
    const z = tf.matMul(y, w as tf.Tensor2D, false, true); // [N, V]
    return tf.reshape(z, [1, x.shape[0], w.shape[0]!]) as tf.Tensor3D;
  });
}

function randomTensor(seed: number, shape: number[], mean = 0, std = 1): tf.Tensor {
  const g = gaussian(mulberry32(seed));
  return tf.tensor(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => mean + std * g()), shape);
}

describe('mergeIntoHead', () => {
  const V = 7;
  const D = 5;
  const gpt2 = new Map<string, tf.Tensor>();
  const llama = new Map<string, tf.Tensor>();
  let x: tf.Tensor2D;
  beforeAll(() => {
    gpt2.set('transformer.wte.weight', randomTensor(31, [V, D]));
    gpt2.set('transformer.ln_f.weight', randomTensor(32, [D], 1, 0.2));
    gpt2.set('transformer.ln_f.bias', randomTensor(33, [D], 0, 0.2));
    llama.set('model.embed_tokens.weight', randomTensor(34, [V, D]));
    llama.set('model.norm.weight', randomTensor(35, [D], 1, 0.2));
    llama.set('lm_head.weight', randomTensor(36, [V, D]));
    x = randomTensor(37, [4, D]) as tf.Tensor2D;
  });

  function expectMergedEqualsAdapter(hf: Map<string, tf.Tensor>, family: 'gpt2' | 'llama', adapter: TemperatureAdapter | VectorScalingAdapter): void {
    const res = mergeIntoHead(adapter, hf);
    if (!res.ok) throw new Error(res.reason);
    const viaAdapter = adapter.apply(headLogits(hf, x, family)).arraySync();
    const merged = headLogits(res.tensors, x, family).arraySync();
    merged[0]!.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(viaAdapter[0]![i]![j]!, 4)));
    expect(res.tensors.get('model.embed_tokens.weight') ?? res.tensors.get('transformer.wte.weight')).toBe(
      hf.get('model.embed_tokens.weight') ?? hf.get('transformer.wte.weight'),
    );
  }

  it('temperature: scaling the final norm equals logits / T for a tied (gpt2) and an untied (llama) head', () => {
    const t = new TemperatureAdapter({ temperature: 0.37 });
    expectMergedEqualsAdapter(gpt2, 'gpt2', t);
    expectMergedEqualsAdapter(llama, 'llama', t);
    t.dispose();
  });

  it('vector scaling + low rank with zero bias merges exactly into an untied head', () => {
    const a = new VectorScalingAdapter({ vocabSize: V, rank: 2, seed: 5 });
    a.scale.assign(randomTensor(38, [V], 1, 0.5));
    a.wb!.assign(randomTensor(39, [2, V], 0, 0.5));
    expectMergedEqualsAdapter(llama, 'llama', a);
    a.dispose();
  });

  it('refuses inexact merges with a reason', () => {
    const a = new VectorScalingAdapter({ vocabSize: V });
    const tied = mergeIntoHead(a, gpt2);
    expect(tied.ok).toBe(false);
    if (!tied.ok) expect(tied.reason).toMatch(/tied/);
    a.bias.assign(tf.fill([V], 0.1));
    const biased = mergeIntoHead(a, llama);
    expect(biased.ok).toBe(false);
    if (!biased.ok) expect(biased.reason).toMatch(/bias/);
    a.dispose();
  });
});

describe('with a real CausalLM', () => {
  it('merged weights reproduce model + adapter; setLogitsAdapter(null) removes it', () => {
    const ids = tf.tensor2d([[1, 5, 9, 3, 7], [1, 4, 4, 8, 2]], undefined, 'int32');
    const cases: [ReturnType<typeof makeTinyModel>, TemperatureAdapter | VectorScalingAdapter][] = [];
    const gpt2 = makeTinyModel({ family: 'gpt2', seed: 1 });
    cases.push([gpt2, new TemperatureAdapter({ temperature: 0.6 })]);
    const llama = makeTinyModel({ family: 'llama', seed: 2, tieWordEmbeddings: false });
    const vs = new VectorScalingAdapter({ vocabSize: 64, rank: 3, seed: 6 });
    vs.scale.assign(randomTensor(40, [64], 1, 0.3));
    vs.wb!.assign(randomTensor(41, [3, 64], 0, 0.3));
    cases.push([llama, vs]);
    for (const [model, adapter] of cases) {
      const plain = model.forward(ids);
      model.setLogitsAdapter(adapter);
      const adapted = model.forward(ids);
      const hf = model.toHfTensors();
      const res = mergeIntoHead(adapter, hf);
      if (!res.ok) throw new Error(res.reason);
      const merged = CausalLM.fromHfTensors(model.config, res.tensors);
      const viaMerge = merged.forward(ids);
      const diff = tf.max(tf.abs(tf.sub(viaMerge, adapted))).dataSync()[0]!;
      const scale = tf.max(tf.abs(adapted)).dataSync()[0]!;
      expect(diff).toBeLessThan(1e-4 * Math.max(1, scale));
      model.setLogitsAdapter(null);
      const removed = model.forward(ids);
      expect(tf.max(tf.abs(tf.sub(removed, plain))).dataSync()[0]).toBe(0);
      tf.dispose([plain, adapted, viaMerge, removed, ...hf.values(), ...res.changed.map((n) => res.tensors.get(n)!)]);
      merged.dispose();
      model.dispose();
      adapter.dispose();
    }
    ids.dispose();
  });
});
