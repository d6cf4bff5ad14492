import { describe, expect, it, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { makeTinyModel, setupTestBackend } from '../testing';
import { packTrainBatch, tokenStreamSource } from './batch-source';
import { trainCausalLM, type TrainableLM, type TrainStepInfo } from './train-causal-lm';

beforeAll(async () => {
  await setupTestBackend();
});

// Toy repetitive corpus: the cycle 3..10 repeated; every next token is determined by the current one.
const CYCLE = [3, 4, 5, 6, 7, 8, 9, 10];
const corpus = Array.from({ length: 400 }, (_, i) => CYCLE[i % CYCLE.length]!);

/** A bigram "model": logits[b, t] = W[ids[b, t]]; tiny and exact, for checking masks. */
function bigram(V: number, init: number[]): TrainableLM & { W: tf.Variable } {
  const W = tf.variable(tf.tensor2d(init, [V, V]));
  return {
    W,
    forward: (ids) => tf.tidy(() => tf.reshape(tf.gather(W, tf.reshape(ids, [-1])), [...ids.shape, V]) as tf.Tensor3D),
    trainableVariables: () => [W],
  };
}

describe('trainCausalLM with the tiny model', () => {
  for (const family of ['gpt2', 'llama'] as const) {
    it(`${family}: loss decreases on a repetitive corpus within 30 steps and no tensor leaks`, async () => {
      const model = makeTinyModel({ family, seed: 3, weightScale: 1 });
      const before = tf.memory().numTensors;
      const counts: number[] = [];
      const infos: TrainStepInfo[] = [];
      const res = await trainCausalLM(model, {
        data: { tokens: corpus, seqLen: 16, seed: 1 },
        batchSize: 4,
        steps: 30,
        padId: 0,
        optimizer: { lr: 1e-2, gradClip: 1, schedule: { type: 'warmup-cosine', warmupSteps: 3, totalSteps: 30 } },
        onStep: (info) => {
          infos.push(info);
          counts.push(tf.memory().numTensors);
        },
      });
      expect(res.stepsDone).toBe(30);
      const first = res.losses.slice(0, 3).reduce((a, v) => a + v, 0) / 3;
      const last = res.losses.slice(-3).reduce((a, v) => a + v, 0) / 3;
      expect(first).toBeGreaterThan(Math.log(64) * 0.6); // starts near uniform
      expect(last).toBeLessThan(first * 0.5);
      // moments appear at step 0; after that the tensor count is flat
      expect(new Set(counts.slice(1)).size).toBe(1);
      expect(tf.memory().numTensors).toBe(before); // optimizer disposed at the end
      expect(infos[0]!.lr).toBeCloseTo(1e-2 / 3, 10);
      expect(infos[0]!.tokens).toBe(4 * 16);
      expect(infos.every((i) => Number.isFinite(i.gradNorm) && i.gradNorm > 0 && i.tokensPerSec > 0)).toBe(true);
      model.dispose();
    });
  }
});

describe('trainCausalLM masks, callbacks and abort', () => {
  const V = 6;
  const init = Array.from({ length: V * V }, (_, i) => Math.sin(i) * 0.5);
  const nll = (a: number, b: number): number => {
    const row = init.slice(a * V, (a + 1) * V);
    const lse = Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
    return lse - row[b]!;
  };

  it('first-step loss covers response targets only, or every real target with lossOnPrompt', async () => {
    const batch = { prompts: [[1, 2], [3]], responses: [[4, 5], [2, 1, 4]] };
    const responseOnly = (nll(2, 4) + nll(4, 5) + nll(3, 2) + nll(2, 1) + nll(1, 4)) / 5;
    const all = (nll(1, 2) + nll(2, 4) + nll(4, 5) + nll(3, 2) + nll(2, 1) + nll(1, 4)) / 6;
    for (const [lossOnPrompt, want] of [[false, responseOnly], [true, all]] as const) {
      const m = bigram(V, init);
      const res = await trainCausalLM(m, { data: () => batch, batchSize: 2, steps: 1, padId: 0, lossOnPrompt, optimizer: { lr: 0.1 } });
      expect(res.losses[0]).toBeCloseTo(want, 5);
      m.W.dispose();
    }
  });

  it('calls onEval every N steps and stops after the current step on abort', async () => {
    const m = bigram(V, init);
    const ctrl = new AbortController();
    const evals: number[] = [];
    const res = await trainCausalLM(m, {
      data: { tokens: [1, 2, 3, 4, 5, 1, 2, 3, 4, 5], seqLen: 4 },
      batchSize: 2,
      steps: 100,
      padId: 0,
      optimizer: { lr: 0.1 },
      evalEvery: 2,
      onEval: (s) => {
        evals.push(s);
      },
      onStep: ({ step }) => {
        if (step === 4) setTimeout(() => ctrl.abort(), 0);
      },
      signal: ctrl.signal,
    });
    expect(res.aborted).toBe(true);
    expect(res.stepsDone).toBeGreaterThanOrEqual(5);
    expect(res.stepsDone).toBeLessThan(100);
    expect(evals).toEqual(Array.from({ length: Math.floor(res.stepsDone / 2) }, (_, i) => 2 * i + 1));
    m.W.dispose();
  });

  it('packTrainBatch and tokenStreamSource shape documents and reject bad input', () => {
    const src = tokenStreamSource({ tokens: corpus, seqLen: 8, seed: 5 });
    const { docs } = src(0, 3) as { docs: number[][] };
    expect(docs).toHaveLength(3);
    for (const d of docs) {
      expect(d).toHaveLength(9);
      d.slice(1).forEach((tok, i) => expect(CYCLE.indexOf(tok)).toBe((CYCLE.indexOf(d[i]!) + 1) % CYCLE.length));
    }
    const p = packTrainBatch({ docs: [[7, 8, 9], [4, 5]] }, 0, false);
    expect(Array.from(p.lossMask)).toEqual([1, 1, 0, 1, 0, 0]); // T = 3: targets 8 9 pad | 5 pad pad
    expect(() => packTrainBatch({ docs: [[7]] }, 0, false)).toThrow(/docs\[0\]/);
    expect(() => tokenStreamSource({ tokens: [1, 2], seqLen: 4 })).toThrow(/seqLen/);
  });
});
