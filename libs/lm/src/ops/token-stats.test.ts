import { describe, expect, it, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { setupTestBackend } from '../testing';
import { seededRandom } from '../generation/rng';
import { tokenEntropy, tokenLogProbs, tokenLogProbsAndEntropy } from './token-stats';

beforeAll(async () => {
  await setupTestBackend();
});

// Double-precision reference for one row of logits.
function refLogp(z: number[], tau: number): number[] {
  const s = z.map((v) => v / tau);
  const m = Math.max(...s);
  const lse = m + Math.log(s.reduce((acc, v) => acc + Math.exp(v - m), 0));
  return s.map((v) => v - lse);
}
function refEntropy(z: number[], tau: number): number {
  return -refLogp(z, tau).reduce((acc, lp) => acc + Math.exp(lp) * lp, 0);
}

const B = 2;
const T = 3;
const V = 7;
const r = seededRandom(7);
const logitsArr = Array.from({ length: B * T * V }, () => (r() - 0.5) * 8);
const targetsArr = Array.from({ length: B * T }, () => Math.floor(r() * V));
const weightsArr = Array.from({ length: B * T }, () => r() - 0.5);
const row = (flat: number[], i: number): number[] => flat.slice(i * V, (i + 1) * V);

describe('tokenLogProbs / tokenEntropy values', () => {
  for (const tau of [1, 0.6, 1.7]) {
    it(`match a double-precision reference at temperature ${tau}`, () => {
      const logits = tf.tensor3d(logitsArr, [B, T, V]);
      const targets = tf.tensor2d(targetsArr, [B, T], 'int32');
      const lp = tokenLogProbs(logits, targets, tau).dataSync();
      const h = tokenEntropy(logits, tau).dataSync();
      const both = tokenLogProbsAndEntropy(logits, targets, tau);
      const lp2 = both.logProbs.dataSync();
      for (let i = 0; i < B * T; i++) {
        expect(lp[i]).toBeCloseTo(refLogp(row(logitsArr, i), tau)[targetsArr[i]!]!, 5);
        expect(h[i]).toBeCloseTo(refEntropy(row(logitsArr, i), tau), 5);
        expect(lp2[i]).toBe(lp[i]);
      }
      tf.dispose([logits, targets, both.logProbs, both.entropy]);
    });
  }

  it('stays finite and exact for huge logits (entropy of a near one-hot and of a uniform row)', () => {
    const logits = tf.tensor3d([[[1000, 0, 0, 0], [500, 500, 500, 500]]]);
    const h = tokenEntropy(logits).dataSync();
    expect(h[0]).toBeCloseTo(0, 6);
    expect(h[1]).toBeCloseTo(Math.log(4), 5);
    logits.dispose();
  });

  it('rejects a non-positive temperature', () => {
    const logits = tf.zeros([1, 1, 3]) as tf.Tensor3D;
    expect(() => tokenEntropy(logits, 0)).toThrow(/temperature/);
    logits.dispose();
  });
});

describe('gradients w.r.t. logits', () => {
  const tau = 0.8;
  // Scalar objectives L = sum_w f(logits) with random weights, in double precision.
  const refLossLp = (z: number[]): number =>
    weightsArr.reduce((acc, w, i) => acc + w * refLogp(row(z, i), tau)[targetsArr[i]!]!, 0);
  const refLossH = (z: number[]): number => weightsArr.reduce((acc, w, i) => acc + w * refEntropy(row(z, i), tau), 0);

  function tfGrad(kind: 'lp' | 'h'): Float32Array {
    return tf.tidy(() => {
      const logits = tf.tensor3d(logitsArr, [B, T, V]);
      const targets = tf.tensor2d(targetsArr, [B, T], 'int32');
      const w = tf.tensor2d(weightsArr, [B, T]);
      const f = (z: tf.Tensor): tf.Scalar => {
        const per = kind === 'lp' ? tokenLogProbs(z as tf.Tensor3D, targets, tau) : tokenEntropy(z as tf.Tensor3D, tau);
        return tf.sum(tf.mul(per, w));
      };
      return tf.grad(f)(logits).dataSync() as Float32Array;
    });
  }
  function tfLoss(kind: 'lp' | 'h', z: number[]): number {
    return tf.tidy(() => {
      const logits = tf.tensor3d(z, [B, T, V]);
      const targets = tf.tensor2d(targetsArr, [B, T], 'int32');
      const per = kind === 'lp' ? tokenLogProbs(logits, targets, tau) : tokenEntropy(logits, tau);
      return tf.sum(tf.mul(per, tf.tensor2d(weightsArr, [B, T]))).dataSync()[0]!;
    });
  }
  function centralDiff(f: (z: number[]) => number, h: number): number[] {
    return logitsArr.map((_, j) => {
      const up = logitsArr.slice();
      const dn = logitsArr.slice();
      up[j]! += h;
      dn[j]! -= h;
      return (f(up) - f(dn)) / (2 * h);
    });
  }

  for (const kind of ['lp', 'h'] as const) {
    it(`${kind === 'lp' ? 'tokenLogProbs' : 'tokenEntropy'} matches double-precision finite differences`, () => {
      const g = tfGrad(kind);
      const fd = centralDiff(kind === 'lp' ? refLossLp : refLossH, 1e-5);
      fd.forEach((v, j) => expect(Math.abs(g[j]! - v)).toBeLessThan(2e-5 + 1e-4 * Math.abs(v)));
    });

    it(`${kind === 'lp' ? 'tokenLogProbs' : 'tokenEntropy'} matches float32 finite differences of itself`, () => {
      const g = tfGrad(kind);
      // float32 forward: rounding error ~ 1e-7 * |L| / h, truncation ~ h^2; h = 1e-2 balances them.
      const fd = centralDiff((z) => tfLoss(kind, z), 1e-2);
      fd.forEach((v, j) => expect(Math.abs(g[j]! - v)).toBeLessThan(3e-3));
    });
  }

  it('entropy gradient equals the closed form -p_j (log p_j + H) / tau', () => {
    const g = tfGrad('h');
    for (let i = 0; i < B * T; i++) {
      const lp = refLogp(row(logitsArr, i), tau);
      const H = refEntropy(row(logitsArr, i), tau);
      for (let j = 0; j < V; j++) {
        const closed = (weightsArr[i]! * -Math.exp(lp[j]!) * (lp[j]! + H)) / tau;
        expect(g[i * V + j]).toBeCloseTo(closed, 5);
      }
    }
  });

  it('log-prob gradient equals the closed form (1[j = y] - p_j) / tau', () => {
    const g = tfGrad('lp');
    for (let i = 0; i < B * T; i++) {
      const lp = refLogp(row(logitsArr, i), tau);
      for (let j = 0; j < V; j++) {
        const closed = (weightsArr[i]! * ((j === targetsArr[i] ? 1 : 0) - Math.exp(lp[j]!))) / tau;
        expect(g[i * V + j]).toBeCloseTo(closed, 5);
      }
    }
  });
});
