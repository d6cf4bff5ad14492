import { describe, expect, it, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { setupTestBackend } from '../testing';
import { clipGlobalNorm, globalNorm } from './clip';

beforeAll(async () => {
  await setupTestBackend();
});

const A = [3, 0, -4, 1];
const B = [2, -2];
const normRef = Math.sqrt([...A, ...B].reduce((s, x) => s + x * x, 0)); // sqrt(34)

describe('clipGlobalNorm', () => {
  it('computes the global norm over all tensors', () => {
    tf.tidy(() => {
      expect(globalNorm({ a: tf.tensor1d(A), b: tf.tensor1d(B) })).toBeCloseTo(normRef, 5);
    });
  });

  it('scales by maxNorm / (norm + 1e-6) when the norm exceeds maxNorm', () => {
    tf.tidy(() => {
      const { grads, norm } = clipGlobalNorm({ a: tf.tensor1d(A), b: tf.tensor1d(B) }, 2);
      expect(norm).toBeCloseTo(normRef, 5);
      const c = 2 / (normRef + 1e-6);
      Array.from(grads['a']!.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(A[i]! * c, 6));
      Array.from(grads['b']!.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(B[i]! * c, 6));
      expect(globalNorm(grads)).toBeCloseTo(2, 4);
    });
  });

  it('leaves gradients alone below maxNorm or when off', () => {
    tf.tidy(() => {
      const g = { a: tf.tensor1d(A), b: tf.tensor1d(B) };
      expect(clipGlobalNorm(g, 100).grads['a']).toBe(g.a);
      const off = clipGlobalNorm(g, 0);
      expect(off.grads['b']).toBe(g.b);
      expect(off.norm).toBeCloseTo(normRef, 5);
      expect(() => clipGlobalNorm(g, -1)).toThrow(/maxNorm/);
    });
  });
});
