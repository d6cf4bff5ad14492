import * as tf from '@tensorflow/tfjs-core';
import { setupTestBackend } from '@emrl/lm/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { lossTermInputFromLogits } from '../stage-kit/plugin';
import { EntropyBonusPlugin } from './entropy-bonus';

beforeAll(async () => {
  await setupTestBackend();
});

/** Shannon entropy of softmax(z / tau) in nats, in plain JS. */
function entropyOf(z: number[], tau: number): number {
  const s = z.map((x) => x / tau);
  const m = Math.max(...s);
  const e = s.map((x) => Math.exp(x - m));
  const Z = e.reduce((a, b) => a + b, 0);
  return -e.reduce((a, x) => a + (x / Z) * Math.log(x / Z), 0);
}

describe('EntropyBonusPlugin', () => {
  const rows = [
    [
      [1, 2, 3],
      [0, 0, 0],
    ],
    [
      [5, -1, 0.5],
      [2, 2, -3],
    ],
  ]; // [B=2, T=2, V=3]
  const mask = [
    [1, 0],
    [1, 1],
  ];

  function run(plugin: EntropyBonusPlugin, temperature: number) {
    return tf.tidy(() => {
      const out = plugin.compute(
        lossTermInputFromLogits({
        logits: tf.tensor3d(rows),
        microBatch: 0,
        targets: tf.zeros([2, 2], 'int32') as tf.Tensor2D,
        lossMask: tf.tensor2d(mask),
        temperature,
        step: 0,
        totalSteps: 1,
      }),
      );
      return { loss: out.loss.dataSync()[0]!, coef: out.coef, entropy: (out.metrics!['entropy'] as tf.Scalar).dataSync()[0]! };
    });
  }

  it('loss is minus the masked token-mean entropy at the trainer temperature (or its own)', () => {
    for (const tau of [1, 0.5]) {
      const expected = (entropyOf(rows[0]![0]!, tau) + entropyOf(rows[1]![0]!, tau) + entropyOf(rows[1]![1]!, tau)) / 3;
      const r = run(new EntropyBonusPlugin({ coef: 0.02 }), tau);
      expect(r.loss).toBeCloseTo(-expected, 5);
      expect(r.entropy).toBeCloseTo(expected, 5);
      expect(r.coef).toBe(0.02);
    }
    const own = run(new EntropyBonusPlugin({ temperature: 2 }), 1);
    expect(own.entropy).toBeCloseTo((entropyOf(rows[0]![0]!, 2) + entropyOf(rows[1]![0]!, 2) + entropyOf(rows[1]![1]!, 2)) / 3, 5);
  });

  it('fixed mode keeps its coefficient', () => {
    const p = new EntropyBonusPlugin({ coef: 0.003 });
    p.afterStep({ 'entropy-bonus/entropy': 0.01 });
    expect(p.state()).toEqual({ coef: 0.003 });
  });

  it('adaptive mode raises coef below the target entropy, lowers it above, within [0, maxCoef]', () => {
    const p = new EntropyBonusPlugin({ coef: 0.01, targetEntropy: 1, coefDelta: 0.004, maxCoef: 0.02 });
    p.afterStep({ 'entropy-bonus/entropy': 0.5 });
    expect(p.state().coef).toBeCloseTo(0.014, 12);
    p.afterStep({ 'entropy-bonus/entropy': 0.5 });
    p.afterStep({ 'entropy-bonus/entropy': 0.5 });
    expect(p.state().coef).toBe(0.02); // capped
    for (let i = 0; i < 10; i++) p.afterStep({ 'entropy-bonus/entropy': 2 });
    expect(p.state().coef).toBe(0); // floored
    p.afterStep({}); // no entropy reported: unchanged
    expect(p.state().coef).toBe(0);
    const q = new EntropyBonusPlugin({ targetEntropy: 1 });
    q.loadState({ coef: 0.042 });
    expect(q.state()).toEqual({ coef: 0.042 });
    expect(run(q, 1).coef).toBe(0.042);
  });

  it('rejects bad options', () => {
    expect(() => new EntropyBonusPlugin({ coef: -1 })).toThrow();
    expect(() => new EntropyBonusPlugin({ targetEntropy: 0 })).toThrow();
  });
});
