import { describe, expect, it, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { setupTestBackend } from '../testing';
import { maskedMean, maskedSum, sequenceMean } from './masked';

beforeAll(async () => {
  await setupTestBackend();
});

const xArr = [
  [1.5, -2, 3, 4],
  [0.25, 7, -1, 9],
  [5, 6, 7, 8],
];
const mArr = [
  [1, 1, 0, 0],
  [0, 1, 1, 1],
  [0, 0, 0, 0],
];

// plain JS references
const sumRef = xArr.flat().reduce((a, v, i) => a + v * mArr.flat()[i]!, 0);
const cntRef = mArr.flat().reduce((a, v) => a + v, 0);
const rowMeans = xArr.map((r, b) => {
  const c = mArr[b]!.reduce((a, v) => a + v, 0);
  return c === 0 ? 0 : r.reduce((a, v, t) => a + v * mArr[b]![t]!, 0) / c;
});

describe('masked reductions', () => {
  it('maskedSum / maskedMean over all elements', () => {
    tf.tidy(() => {
      const x = tf.tensor2d(xArr);
      const m = tf.tensor2d(mArr);
      expect(maskedSum(x, m).dataSync()[0]).toBeCloseTo(sumRef, 6);
      expect(maskedMean(x, m).dataSync()[0]).toBeCloseTo(sumRef / cntRef, 6);
    });
  });

  it('sequenceMean is a per-row mean and gives 0 (not NaN) for an empty row', () => {
    tf.tidy(() => {
      const got = Array.from(sequenceMean(tf.tensor2d(xArr), tf.tensor2d(mArr)).dataSync());
      got.forEach((v, b) => expect(v).toBeCloseTo(rowMeans[b]!, 6));
      expect(Number.isNaN(got[2])).toBe(false);
    });
  });

  it('gradients are mask / count', () => {
    tf.tidy(() => {
      const m = tf.tensor2d(mArr);
      const g = tf.grad((x: tf.Tensor) => maskedMean(x, m) as tf.Scalar)(tf.tensor2d(xArr)).dataSync();
      mArr.flat().forEach((v, i) => expect(g[i]).toBeCloseTo(v / cntRef, 6));
      const gs = tf.grad((x: tf.Tensor) => tf.sum(sequenceMean(x as tf.Tensor2D, m)))(tf.tensor2d(xArr)).dataSync();
      mArr.forEach((r, b) => {
        const c = r.reduce((a, v) => a + v, 0);
        r.forEach((v, t) => expect(gs[b * 4 + t]).toBeCloseTo(c === 0 ? 0 : v / c, 6));
      });
    });
  });

  it('rejects mismatched shapes', () => {
    tf.tidy(() => {
      expect(() => maskedMean(tf.zeros([2, 3]), tf.zeros([2, 4]))).toThrow(/must match/);
    });
  });
});
