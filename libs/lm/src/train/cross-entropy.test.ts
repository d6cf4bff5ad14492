import { describe, expect, it, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { setupTestBackend } from '../testing';
import { crossEntropyLoss } from './cross-entropy';

beforeAll(async () => {
  await setupTestBackend();
});

// [1, 3, 4] logits, one masked-out position
const Z = [0.3, -1.2, 2.0, 0.5, 1.1, 1.0, -0.4, 0.0, -2.0, 0.7, 0.2, 3.1];
const Y = [2, 0, 3];
const M = [1, 0, 1];
const V = 4;

function refLoss(z: number[]): number {
  let s = 0;
  let n = 0;
  for (let t = 0; t < 3; t++) {
    if (!M[t]) continue;
    const row = z.slice(t * V, (t + 1) * V);
    const mx = Math.max(...row);
    const lse = mx + Math.log(row.reduce((a, v) => a + Math.exp(v - mx), 0));
    s += lse - row[Y[t]!]!;
    n += 1;
  }
  return s / n;
}

describe('crossEntropyLoss', () => {
  it('equals the masked mean negative log-likelihood', () => {
    tf.tidy(() => {
      const l = crossEntropyLoss(tf.tensor3d(Z, [1, 3, V]), tf.tensor2d([Y], [1, 3], 'int32'), tf.tensor2d([M]));
      expect(l.dataSync()[0]).toBeCloseTo(refLoss(Z), 6);
    });
  });

  it('gradient matches central finite differences (and is zero on masked-out positions)', () => {
    const g = tf.tidy(() => {
      const y = tf.tensor2d([Y], [1, 3], 'int32');
      const m = tf.tensor2d([M]);
      return tf.grad((z: tf.Tensor) => crossEntropyLoss(z as tf.Tensor3D, y, m))(tf.tensor3d(Z, [1, 3, V])).dataSync();
    });
    const h = 1e-5;
    Z.forEach((_, j) => {
      const up = Z.slice();
      const dn = Z.slice();
      up[j]! += h;
      dn[j]! -= h;
      const fd = (refLoss(up) - refLoss(dn)) / (2 * h);
      expect(Math.abs(g[j]! - fd)).toBeLessThan(1e-5);
      if (j >= V && j < 2 * V) expect(Math.abs(g[j]!)).toBe(0);
    });
  });

  it('is 0, not NaN, for an empty mask', () => {
    tf.tidy(() => {
      const l = crossEntropyLoss(tf.tensor3d(Z, [1, 3, V]), tf.tensor2d([Y], [1, 3], 'int32'), tf.zeros([1, 3]));
      expect(l.dataSync()[0]).toBe(0);
    });
  });
});
