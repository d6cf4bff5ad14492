import * as tf from '@tensorflow/tfjs-core';
import { setupTestBackend } from '@emrl/lm/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { emRlAdvantages, emRlLoss, lastFractionMask, sequenceEntropyRewards, tokenEntropies, tokenEntropyLoss } from './losses';
import { randomLogits } from '../testing';

beforeAll(async () => {
  await setupTestBackend();
});

/** Double-precision reference: softmax(z / tau) and its entropy for one position. */
function refProbs(z: number[], tau: number): { p: number[]; h: number } {
  const s = z.map((x) => x / tau);
  const max = Math.max(...s);
  const e = s.map((x) => Math.exp(x - max));
  const sum = e.reduce((a, b) => a + b, 0);
  const p = e.map((x) => x / sum);
  const h = -p.reduce((a, pi) => a + (pi > 0 ? pi * Math.log(pi) : 0), 0);
  return { p, h };
}

const MASK = [
  [0, 0, 1, 1, 1, 0],
  [0, 1, 1, 1, 1, 1],
  [0, 0, 0, 0, 1, 1],
];

function refLoss(z: number[][][], mask: number[][], tau: number, pooling: 'token-mean' | 'sequence-mean'): number {
  let total = 0;
  let count = 0;
  const seqMeans: number[] = [];
  z.forEach((row, b) => {
    let s = 0;
    let n = 0;
    row.forEach((pos, t) => {
      if (mask[b]![t]) {
        const h = refProbs(pos, tau).h;
        s += h;
        n += 1;
      }
    });
    total += s;
    count += n;
    if (n > 0) seqMeans.push(s / n);
  });
  return pooling === 'token-mean' ? total / count : seqMeans.reduce((a, b) => a + b, 0) / seqMeans.length;
}

describe('tokenEntropyLoss', () => {
  it('matches a double-precision computation (token-mean and sequence-mean)', () => {
    const logits = randomLogits(1, 3, 6, 11);
    const mask = tf.tensor2d(MASK);
    const z = logits.arraySync();
    for (const tau of [1, 0.5]) {
      for (const pooling of ['token-mean', 'sequence-mean'] as const) {
        const loss = tokenEntropyLoss({ logits, lossMask: mask, temperature: tau, pooling });
        expect(loss.dataSync()[0]).toBeCloseTo(refLoss(z, MASK, tau, pooling), 5);
        loss.dispose();
      }
    }
    // token-mean and sequence-mean differ when sequences have different response lengths
    const a = tokenEntropyLoss({ logits, lossMask: mask, pooling: 'token-mean' }).dataSync()[0]!;
    const b = tokenEntropyLoss({ logits, lossMask: mask, pooling: 'sequence-mean' }).dataSync()[0]!;
    expect(Math.abs(a - b)).toBeGreaterThan(1e-4);
    tf.dispose([logits, mask]);
  });

  it('gradient equals the closed form dH/dz = -p (log p + H) / tau, zero at masked positions', () => {
    const tau = 0.5;
    const logits = randomLogits(2, 3, 6, 7);
    const mask = tf.tensor2d(MASK);
    const z = logits.arraySync();
    const grad = tf.grad((x: tf.Tensor) => tokenEntropyLoss({ logits: x as tf.Tensor3D, lossMask: mask, temperature: tau }))(logits);
    const g = grad.arraySync() as number[][][];
    const count = MASK.flat().reduce((a, b) => a + b, 0);
    z.forEach((row, b) =>
      row.forEach((pos, t) => {
        const { p, h } = refProbs(pos, tau);
        p.forEach((pj, j) => {
          const expected = MASK[b]![t] ? (-pj * (Math.log(pj) + h)) / tau / count : 0;
          expect(g[b]![t]![j]).toBeCloseTo(expected, 5);
          if (!MASK[b]![t]) expect(g[b]![t]![j]).toBe(0);
        });
      }),
    );
    tf.dispose([logits, mask, grad]);
  });

  it('gradient matches central finite differences', () => {
    const tau = 0.7;
    const base = randomLogits(3, 2, 4, 5).arraySync();
    const mask = [
      [0, 1, 1, 1],
      [1, 1, 0, 0],
    ];
    const f = (z: number[][][]): number => refLoss(z, mask, tau, 'sequence-mean');
    const logits = tf.tensor3d(base);
    const maskT = tf.tensor2d(mask);
    const grad = tf.grad((x: tf.Tensor) =>
      tokenEntropyLoss({ logits: x as tf.Tensor3D, lossMask: maskT, temperature: tau, pooling: 'sequence-mean' }),
    )(logits);
    const g = grad.arraySync() as number[][][];
    const eps = 1e-5;
    for (const [b, t, v] of [
      [0, 1, 0],
      [0, 3, 4],
      [1, 0, 2],
      [1, 1, 3],
      [1, 3, 1],
    ] as const) {
      const plus = structuredClone(base);
      const minus = structuredClone(base);
      plus[b]![t]![v]! += eps;
      minus[b]![t]![v]! -= eps;
      const fd = (f(plus) - f(minus)) / (2 * eps);
      expect(g[b]![t]![v]).toBeCloseTo(fd, 5);
    }
    tf.dispose([logits, maskT, grad]);
  });

  it('lastFraction keeps the last ceil(fraction * n) response positions of each row', () => {
    const mask = tf.tensor2d([
      [0, 0, 1, 1, 1, 1, 1, 1, 0], // n = 6 -> last 2 (1/3)
      [1, 1, 1, 1, 1, 1, 1, 1, 1], // n = 9 -> last 3
      [0, 0, 0, 0, 0, 0, 0, 1, 0], // n = 1 -> 1
      [0, 0, 0, 0, 0, 0, 0, 0, 0], // n = 0 -> none
    ]);
    const kept = lastFractionMask(mask, 1 / 3);
    expect(kept.arraySync()).toEqual([
      [0, 0, 0, 0, 0, 0, 1, 1, 0],
      [0, 0, 0, 0, 0, 0, 1, 1, 1],
      [0, 0, 0, 0, 0, 0, 0, 1, 0],
      [0, 0, 0, 0, 0, 0, 0, 0, 0],
    ]);
    const half = lastFractionMask(mask, 0.5).arraySync();
    expect(half[0]).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 0]);
    expect(half[1]!.reduce((a, b) => a + b, 0)).toBe(5); // ceil(4.5)
    // The loss with lastFraction equals the loss with the reduced mask.
    const logits = randomLogits(4, 4, 9, 6);
    const a = tokenEntropyLoss({ logits, lossMask: mask, lastFraction: 1 / 3 }).dataSync()[0];
    const b = tokenEntropyLoss({ logits, lossMask: kept }).dataSync()[0];
    expect(a).toBeCloseTo(b!, 6);
    expect(() => lastFractionMask(mask, 0)).toThrow(/lastFraction/);
    tf.dispose([mask, kept, logits]);
  });

  it('rejects a mask that does not match the logits', () => {
    const logits = randomLogits(5, 2, 3, 4);
    const mask = tf.ones([2, 4]) as tf.Tensor2D;
    expect(() => tokenEntropyLoss({ logits, lossMask: mask })).toThrow(/lossMask shape/);
    tf.dispose([logits, mask]);
  });
});

describe('EM-RL (arXiv 2505.15134)', () => {
  it('token rewards are -sum_t H_t; sequence rewards are sum_t logp_t', () => {
    const logits = randomLogits(6, 3, 6, 5);
    const mask = tf.tensor2d(MASK);
    const h = tokenEntropies(logits, 0.8).arraySync();
    const r = sequenceEntropyRewards({ kind: 'token', logits, lossMask: mask, temperature: 0.8 });
    r.forEach((rb, b) => expect(rb).toBeCloseTo(-h[b]!.reduce((a, x, t) => a + x * MASK[b]![t]!, 0), 5));
    const lp = tf.tensor2d([
      [-1, -2, -3, -4, -5, -6],
      [-0.5, -0.5, -0.5, -0.5, -0.5, -0.5],
      [-9, -9, -9, -9, -1, -2],
    ]);
    expect(sequenceEntropyRewards({ kind: 'sequence', logprobs: lp, lossMask: mask })).toEqual([-12, -2.5, -3]);
    expect(() => sequenceEntropyRewards({ kind: 'token', lossMask: mask })).toThrow(/needs `logits`/);
    tf.dispose([logits, mask, lp]);
  });

  it('baselines: batch mean, group mean, none', () => {
    expect(emRlAdvantages([1, 2, 3, 6])).toEqual([-2, -1, 0, 3]);
    expect(emRlAdvantages([1, 3, 10, 20], 'group-mean', 2)).toEqual([-1, 1, -5, 5]);
    expect(emRlAdvantages([1, 3], 'none')).toEqual([1, 3]);
    expect(() => emRlAdvantages([1, 2, 3], 'group-mean', 2)).toThrow(/groupSize/);
  });

  it('gradient w.r.t. logits matches the hand-computed REINFORCE gradient', () => {
    const logits = randomLogits(7, 3, 6, 5);
    const mask = tf.tensor2d(MASK);
    const targets = [
      [0, 1, 2, 3, 4, 0],
      [4, 3, 2, 1, 0, 1],
      [2, 2, 2, 2, 2, 2],
    ];
    const targetsT = tf.tensor2d(targets, undefined, 'int32');
    const rewards = [0.3, -1.2, 2.0];
    const mean = (0.3 - 1.2 + 2.0) / 3;
    const logprobsOf = (x: tf.Tensor3D): tf.Tensor2D =>
      tf.sum(tf.mul(tf.logSoftmax(x, -1), tf.cast(tf.oneHot(targetsT, 5), 'float32')), -1) as tf.Tensor2D;
    const lossValue = emRlLoss({ logprobs: logprobsOf(logits), lossMask: mask, rewards }).dataSync()[0]!;
    const grad = tf.grad((x: tf.Tensor) => emRlLoss({ logprobs: logprobsOf(x as tf.Tensor3D), lossMask: mask, rewards }))(logits);
    const g = grad.arraySync() as number[][][];
    const z = logits.arraySync();
    let expectedLoss = 0;
    z.forEach((row, b) =>
      row.forEach((pos, t) => {
        const { p } = refProbs(pos, 1);
        const adv = rewards[b]! - mean;
        if (MASK[b]![t]) expectedLoss += (-adv * Math.log(p[targets[b]![t]!]!)) / 3;
        // d/dz_j [-(adv/B) * m * log p_y] = -(adv/B) * m * (1[j=y] - p_j)
        p.forEach((pj, j) => {
          const expected = (-adv / 3) * MASK[b]![t]! * ((j === targets[b]![t] ? 1 : 0) - pj);
          expect(g[b]![t]![j]).toBeCloseTo(expected, 5);
        });
      }),
    );
    expect(lossValue).toBeCloseTo(expectedLoss, 4);
    tf.dispose([logits, mask, targetsT, grad]);
  });
});
