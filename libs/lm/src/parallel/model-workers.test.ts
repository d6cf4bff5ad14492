import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentBackend } from '../backend';
import { generate } from '../generation/generate';
import { modelTokenStats } from '../model/model-token-stats';
import { packBatchArrays, toPackedBatch, type PackedArrays } from '../ops/pack-batch';
import { ByteTokenizer } from '../tokenizer/byte-tokenizer';
import { makeTinyModel, setupTestBackend, startSplittingWorkers } from '../testing';
import { ModelWorkers } from './model-workers';
import { rowShares } from './row-shares';

let workers: ModelWorkers;

beforeAll(async () => {
  await setupTestBackend();
  workers = await startSplittingWorkers();
}, 60_000);

afterAll(async () => {
  await workers?.close();
});

function packed(rows: number): PackedArrays {
  const prompts: number[][] = [];
  const responses: number[][] = [];
  for (let b = 0; b < rows; b++) {
    prompts.push(Array.from({ length: 2 + (b % 3) }, (_, i) => 3 + ((b + i) % 9)));
    responses.push(Array.from({ length: 2 + ((b * 5) % 4) }, (_, i) => 3 + ((b * 2 + i) % 9)));
  }
  return packBatchArrays(prompts, responses, 0);
}

const maxRel = (a: Float32Array, b: Float32Array): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
  return m;
};

describe('rowShares', () => {
  it('splits rows contiguously, none empty, the first share to the caller', () => {
    expect(rowShares(7, 2)).toEqual([
      [0, 3],
      [3, 7],
    ]);
    expect(rowShares(1, 2)).toEqual([[0, 1]]);
    expect(rowShares(6, 3)).toEqual([
      [0, 2],
      [2, 4],
      [4, 6],
    ]);
  });
});

describe('ModelWorkers', () => {
  it('keeps small jobs on the calling thread (SPLIT_MIN)', async () => {
    const pool = await ModelWorkers.start(1, currentBackend()!.name);
    try {
      const model = makeTinyModel({ family: 'gpt2', seed: 1 });
      // 8 rows x ~10 tokens: 40 tokens per share, below SPLIT_MIN.passTokens.
      expect(pool.startGradPass(model, packed(8), { temperature: 1 })).toBeNull();
      const split = workers.startGradPass(model, packed(8), { temperature: 1 });
      expect(split).not.toBeNull();
      split!.abort();
      await expect(split!.gradients()).rejects.toThrow(/aborted/);
      model.dispose();
    } finally {
      await pool.close();
    }
  }, 60_000);

  it('generates the same tokens as one thread, stop strings and per-row streams included', async () => {
    for (const family of ['gpt2', 'llama'] as const) {
      const model = makeTinyModel({ family, vocabSize: 262, seed: 3 });
      const tok = new ByteTokenizer();
      const prompts = Array.from({ length: 6 }, (_, b) => [1, ...Array.from({ length: 2 + (b % 3) }, (_, i) => 40 + b + i)]);
      const opts = { maxNewTokens: 12, temperature: 1, seed: 9, stopTokenIds: [2], stopStrings: { strings: ['ab'], decode: (ids: readonly number[]) => tok.decode(ids) } };
      const one = await generate(model, prompts, opts);
      const two = await workers.generate(model, tok, prompts, opts);
      expect(two).toEqual(one);
      model.dispose();
    }
  }, 60_000);

  it('scores rows on both threads as one thread does (to float rounding), and follows weight updates', async () => {
    const model = makeTinyModel({ family: 'llama', seed: 4 });
    const a = packed(5);
    const ref = () =>
      tf.tidy(() => {
        const s = modelTokenStats(model, toPackedBatch(a)).at(0.7);
        return { logProbs: s.logProbs.dataSync() as Float32Array, entropy: s.entropy.dataSync() as Float32Array };
      });
    const one = ref();
    const two = await workers.tokenStats(model, a, 0.7);
    expect(maxRel(two.logProbs, one.logProbs)).toBeLessThan(1e-5);
    expect(maxRel(two.entropy, one.entropy)).toBeLessThan(1e-5);
    // An update on the caller's thread reaches the replica before the next job.
    const w = model.weights.get('model.layers.0.mlp.up_proj.weight')!;
    w.assign(tf.tidy(() => tf.mul(w, 1.5)));
    const oneAfter = ref();
    expect(maxRel(oneAfter.logProbs, one.logProbs)).toBeGreaterThan(1e-3);
    const twoAfter = await workers.tokenStats(model, a, 0.7);
    expect(maxRel(twoAfter.logProbs, oneAfter.logProbs)).toBeLessThan(1e-5);
    model.dispose();
  }, 60_000);

  it('copies only what changed: an optimizer-like update, then an attached LoRA adapter without the base', async () => {
    const model = makeTinyModel({ family: 'llama', seed: 8 });
    const a = packed(4);
    const stats = () =>
      tf.tidy(() => modelTokenStats(model, toPackedBatch(a)).at(1).logProbs.dataSync() as Float32Array);
    await workers.tokenStats(model, a, 1);
    const base = model.numParameters();
    let before = workers.copiedValues;
    await workers.tokenStats(model, a, 1);
    expect(workers.copiedValues - before).toBe(0); // nothing changed
    const w = model.weights.get('model.norm.weight')!;
    w.assign(tf.tidy(() => tf.add(w, 0.5)));
    before = workers.copiedValues;
    expect(maxRel((await workers.tokenStats(model, a, 1)).logProbs, stats())).toBeLessThan(1e-5);
    expect(workers.copiedValues - before).toBe(w.size);
    const lora = model.attachLora({ r: 2, alpha: 4, targetModules: ['q_proj', 'o_proj'] }, 1);
    for (const v of lora.variables()) v.assign(tf.tidy(() => tf.add(v, tf.randomNormal(v.shape, 0, 0.2, 'float32', 3))));
    before = workers.copiedValues;
    expect(maxRel((await workers.tokenStats(model, a, 1)).logProbs, stats())).toBeLessThan(1e-5);
    const adapter = lora.variables().reduce((n, v) => n + v.size, 0);
    expect(workers.copiedValues - before).toBe(adapter);
    expect(adapter).toBeLessThan(base / 4);
    // Detached again: the replica drops its adapter too.
    model.detachLora()!.dispose();
    expect(maxRel((await workers.tokenStats(model, a, 1)).logProbs, stats())).toBeLessThan(1e-5);
    model.dispose();
  }, 60_000);

  it('splits a gradient pass: the same gradients as one thread (to 1e-5), flat tensor counts on both threads', async () => {
    for (const lora of [false, true]) {
      const model = makeTinyModel({ family: 'llama', seed: 6 });
      if (lora) {
        model.attachLora({ r: 4, alpha: 8, dropout: 0.2, targetModules: ['q_proj', 'v_proj', 'down_proj'] }, 3);
        // Non-zero B so every adapter path carries gradient.
        for (const v of model.getLora()!.variables()) v.assign(tf.tidy(() => tf.add(v, tf.randomNormal(v.shape, 0, 0.1, 'float32', 7))));
      }
      const vars = model.trainableVariables();
      const a = packed(6);
      const training = { seed: 11, rowOffset: 0 };
      // A loss that mixes two temperatures and both statistics, normalized over the whole batch.
      const lossOf = (s1: { logProbs: tf.Tensor2D; entropy: tf.Tensor2D }, s2: { logProbs: tf.Tensor2D; entropy: tf.Tensor2D }, mask: tf.Tensor2D) =>
        tf.div(tf.sum(tf.mul(tf.add(tf.mul(s1.logProbs, -1), tf.mul(tf.square(s2.entropy), 0.3)), mask)), tf.sum(mask)) as tf.Scalar;
      const one = tf.tidy(() => {
        const b = toPackedBatch(a);
        const { grads } = tf.variableGrads(() => {
          const st = modelTokenStats(model, b, { forward: { training } });
          return lossOf(st.at(1), st.at(0.5), b.lossMask);
        }, vars);
        return vars.map((v) => grads[v.name]!.dataSync() as Float32Array);
      });
      const counts: number[] = [];
      let two: Float32Array[] = [];
      for (let rep = 0; rep < 4; rep++) {
        const pass = workers.startGradPass(model, a, { temperature: 1, training })!;
        expect(pass).not.toBeNull();
        const mine = tf.tidy(() => {
          const own = toPackedBatch(pass.own);
          const full = toPackedBatch(a);
          const { grads } = tf.variableGrads(() => {
            const st = modelTokenStats(model, own, { forward: { training: { seed: training.seed, rowOffset: pass.ownStart } } });
            const at = (tau: number) => {
              const mineAt = st.at(tau);
              const theirs = pass.workerStats(tau);
              return {
                logProbs: tf.concat([mineAt.logProbs, ...theirs.map((t) => t.logProbs)], 0) as tf.Tensor2D,
                entropy: tf.concat([mineAt.entropy, ...theirs.map((t) => t.entropy)], 0) as tf.Tensor2D,
              };
            };
            return lossOf(at(1), at(0.5), full.lossMask);
          }, [...vars, pass.anchor]);
          pass.finish();
          return vars.map((v) => grads[v.name]!);
        });
        const theirs = (await pass.gradients())[0]!;
        const names = [...(await import('./replica-variables')).replicaVariables(model)].filter(([, v]) => vars.includes(v)).map(([k, v]) => [k, vars.indexOf(v)] as const);
        two = vars.map(() => new Float32Array(0));
        for (const [k, i] of names) {
          two[i] = tf.tidy(() => tf.add(mine[i]!, tf.tensor(theirs.get(k)!, vars[i]!.shape)).dataSync() as Float32Array);
        }
        tf.dispose(mine);
        counts.push(tf.memory().numTensors, ...(await workers.workerTensorCounts()));
      }
      one.forEach((g, i) => expect(maxRel(two[i]!, g)).toBeLessThan(1e-5));
      // Gradients are not trivially zero.
      expect(Math.max(...one.map((g) => Math.max(...Array.from(g, Math.abs))))).toBeGreaterThan(1e-4);
      const perRep = counts.length / 4;
      for (let rep = 2; rep < 4; rep++) expect(counts.slice(rep * perRep, (rep + 1) * perRep)).toEqual(counts.slice(perRep, 2 * perRep));
      model.dispose();
    }
  }, 120_000);

  it('a failing worker half surfaces as an error on the caller, not a hang', async () => {
    const model = makeTinyModel({ family: 'gpt2', seed: 2 });
    const a = packed(4);
    const pass = workers.startGradPass(model, a, { temperature: 1 })!;
    expect(() =>
      tf.tidy(() => {
        tf.variableGrads(() => {
          pass.workerStats(1);
          return tf.sum(pass.workerStats(1)[0]!.logProbs) as tf.Scalar; // the same temperature twice: refused
        }, [...model.trainableVariables(), pass.anchor]);
      }),
    ).toThrow(/asked for twice/);
    pass.abort();
    await expect(pass.gradients()).rejects.toThrow(/aborted/);
    // The pool still works afterwards.
    const s = await workers.tokenStats(model, a, 1);
    expect(s.logProbs.length).toBe(a.batchSize * a.seqLen);
    model.dispose();
  }, 60_000);
});
