import * as tf from '@tensorflow/tfjs-core';
import { setupTestBackend } from '@emrl/lm/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { lastFractionMask, tokenEntropyLoss } from './losses';
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

