import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../generation/rng';
import { packBatch } from '../ops/pack-batch';
import { makeTinyModel, setupTestBackend, type TinyModelOptions } from '../testing';
import type { CausalLM } from './causal-lm';
import { modelTokenStats, tokenStatsPath, type TokenStats } from './model-token-stats';

const V = 64;
const r = seededRandom(5);
const tokens = (n: number): number[] => Array.from({ length: n }, () => 3 + Math.floor(r() * (V - 3)));
// 3 rows of ragged prompts / responses: T = 7, N = 21 rows of hidden states.
const prompts = [tokens(2), tokens(3), tokens(1)];
const responses = [tokens(4), tokens(2), tokens(3)];
const B = 3;
const T = 7;
let batch: ReturnType<typeof packBatch>;
beforeAll(async () => {
  await setupTestBackend();
  batch = packBatch(prompts, responses, 0);
  expect(batch.inputIds.shape).toEqual([B, T]);
});
// A chunk budget of 4 rows of logits: 21 rows -> 6 chunks, the last one ragged (1 row).
const FOUR_ROWS = 4 * V * 4;
const weightsArr = Array.from({ length: B * T }, () => r() - 0.5);
afterAll(() => tf.dispose(Object.values(batch)));

const models: CausalLM[] = [];
const tiny = (opts: TinyModelOptions): CausalLM => {
  const m = makeTinyModel({ vocabSize: V, weightScale: 2, ...opts });
  models.push(m);
  return m;
};
afterAll(() => models.forEach((m) => m.dispose()));

/** A loss touching both statistics at two temperatures; its value and gradients w.r.t. every weight. */
function lossAndGrads(model: CausalLM, budget: number | undefined) {
  let path = '';
  const w = tf.tensor2d(weightsArr, [B, T]);
  const { value, grads } = tf.variableGrads(() => {
    const s = modelTokenStats(model, batch, { logitsBudgetBytes: budget });
    path = s.path;
    const a = s.at(1);
    const b = s.at(0.7);
    return tf.addN([tf.sum(tf.mul(a.logProbs, w)), tf.sum(tf.mul(a.entropy, batch.lossMask)), tf.mul(tf.sum(tf.mul(b.entropy, w)), 0.5), tf.sum(b.logProbs)]) as tf.Scalar;
  }, model.trainableVariables());
  // Keyed by Hugging Face weight names (variableGrads keys by tfjs variable names).
  const hfName = new Map([...model.weights].map(([name, v]) => [v.name, name]));
  const out = { path, loss: value.dataSync()[0]!, grads: Object.fromEntries(Object.entries(grads).map(([k, g]) => [hfName.get(k)!, Array.from(g.dataSync())])) };
  tf.dispose([value, w, ...Object.values(grads)]);
  return out;
}

function maxRelDiff(a: number[], b: number[]): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
  return worst;
}

describe('modelTokenStats: the chunked path gives the plain path values and gradients', () => {
  const cases: [string, TinyModelOptions][] = [
    ['gpt2 (tied head)', { family: 'gpt2', seed: 1 }],
    ['qwen2 tied', { family: 'llama', seed: 2 }],
    ['qwen2 untied lm_head', { family: 'llama', seed: 3, tieWordEmbeddings: false }],
  ];
  for (const [label, opts] of cases) {
    it(`${label}: loss and every weight gradient agree to 1e-5`, () => {
      const model = tiny(opts);
      const plain = lossAndGrads(model, undefined);
      const chunked = lossAndGrads(model, FOUR_ROWS);
      expect(plain.path).toBe('plain');
      expect(chunked.path).toBe('chunked');
      expect(Math.abs(chunked.loss - plain.loss) / Math.max(1, Math.abs(plain.loss))).toBeLessThan(1e-5);
      const names = Object.keys(plain.grads);
      expect(Object.keys(chunked.grads).sort()).toEqual([...names].sort());
      for (const n of names) expect(maxRelDiff(chunked.grads[n]!, plain.grads[n]!), n).toBeLessThan(1e-5);
      const head = opts.tieWordEmbeddings === false ? 'lm_head.weight' : opts.family === 'gpt2' ? 'transformer.wte.weight' : 'model.embed_tokens.weight';
      expect(Math.max(...chunked.grads[head]!.map(Math.abs))).toBeGreaterThan(1e-3);
    });
  }

  it('with LoRA (frozen head: no head gradient is accumulated) the adapter gradients agree to 1e-5', () => {
    const model = tiny({ family: 'llama', seed: 7 });
    model.attachLora({ r: 2, alpha: 4, targetModules: ['q_proj', 'v_proj', 'down_proj'] }, 1);
    // PEFT init leaves B = 0; give it values so every adapter matrix has a gradient.
    for (const v of model.getLora()!.variables()) v.assign(tf.tidy(() => tf.randomNormal(v.shape, 0, 0.3, 'float32', 17)));
    const run = (budget: number | undefined) => {
      const w = tf.tensor2d(weightsArr, [B, T]);
      const vars = model.trainableVariables();
      const { value, grads } = tf.variableGrads(() => {
        const s = modelTokenStats(model, batch, { logitsBudgetBytes: budget });
        return tf.add(tf.sum(tf.mul(s.at(1).logProbs, w)), tf.sum(tf.mul(s.at(0.7).entropy, batch.lossMask))) as tf.Scalar;
      }, vars);
      const out = { loss: value.dataSync()[0]!, grads: vars.map((v) => Array.from(grads[v.name]!.dataSync())) };
      tf.dispose([value, w, ...Object.values(grads)]);
      return out;
    };
    const plain = run(undefined);
    const chunked = run(FOUR_ROWS);
    expect(Math.abs(chunked.loss - plain.loss) / Math.max(1, Math.abs(plain.loss))).toBeLessThan(1e-5);
    expect(plain.grads.length).toBe(12);
    plain.grads.forEach((g, i) => expect(maxRelDiff(chunked.grads[i]!, g), `adapter variable ${i}`).toBeLessThan(1e-5));
  });

  it('the lazy logits of the chunked path are forward()\'s', () => {
    const model = tiny({ family: 'llama', seed: 4 });
    const s = modelTokenStats(model, batch, { logitsBudgetBytes: FOUR_ROWS });
    const f = model.forward(batch.inputIds, { attentionMask: batch.attentionMask });
    expect(maxRelDiff(Array.from(s.logits.dataSync()), Array.from(f.dataSync()))).toBeLessThan(1e-6);
    s.dispose();
    f.dispose();
  });

  it('path choice: plain up to a quarter of the budget, and always with a logits adapter', () => {
    const model = tiny({ family: 'gpt2', seed: 5 });
    const bytes = B * T * V * 4;
    expect(tokenStatsPath(model, B, T, bytes * 4)).toBe('plain');
    expect(tokenStatsPath(model, B, T, bytes * 4 - 1)).toBe('chunked');
    model.setLogitsAdapter({ name: 'id', variables: () => [], apply: (l) => tf.clone(l) });
    expect(tokenStatsPath(model, B, T, 1)).toBe('plain');
    model.setLogitsAdapter(null);
  });

  it('tensor count is flat over repeated gradient steps, and dispose frees what it made', () => {
    const model = tiny({ family: 'llama', seed: 6 });
    const counts: number[] = [];
    for (let i = 0; i < 3; i++) {
      lossAndGrads(model, FOUR_ROWS);
      counts.push(tf.memory().numTensors);
    }
    expect(new Set(counts).size, counts.join(',')).toBe(1);
    const before = tf.memory().numTensors;
    const s: TokenStats = modelTokenStats(model, batch, { logitsBudgetBytes: FOUR_ROWS });
    s.at(1);
    void s.logits;
    s.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
