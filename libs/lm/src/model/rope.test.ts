import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { setupTestBackend } from '../testing';
import { applyRope, ropeInvFreq, ropeTables, ropeTablesFromPositions } from './rope';
import { ropeFrequencies } from './rope-scaling';

beforeAll(async () => {
  await setupTestBackend();
});

describe('rotary embeddings', () => {
  it('rotates pairs (x[i], x[i + d/2]) by position * theta^(-2i/d) (closed form)', () => {
    const d = 4;
    const theta = 100;
    const x = [0.3, -1.2, 2.0, 0.7]; // one head
    const positions = [0, 1, 5];
    const { cos, sin } = ropeTables(tf.tensor1d(positions, 'int32'), d, theta);
    const xs = tf.tensor3d(positions.flatMap(() => x), [positions.length, 1, d]);
    const got = applyRope(xs, cos, sin).arraySync();
    positions.forEach((p, n) => {
      for (let i = 0; i < d / 2; i++) {
        const a = p * Math.pow(theta, (-2 * i) / d);
        const [u, w] = [x[i]!, x[i + d / 2]!];
        expect(got[n]![0]![i]).toBeCloseTo(u * Math.cos(a) - w * Math.sin(a), 5);
        expect(got[n]![0]![i + d / 2]).toBeCloseTo(w * Math.cos(a) + u * Math.sin(a), 5);
      }
    });
    tf.dispose([cos, sin, xs]);
  });

  it('makes q.k depend only on the position difference', () => {
    const d = 8;
    const q = [0.1, 0.5, -0.3, 0.9, 1.1, -0.2, 0.4, 0.05];
    const k = [-0.7, 0.2, 0.3, 0.1, 0.6, 0.9, -0.5, 0.25];
    const dot = (pq: number, pk: number): number =>
      tf.tidy(() => {
        const { cos, sin } = ropeTables(tf.tensor1d([pq, pk]), d, 10000);
        const r = applyRope(tf.tensor3d([...q, ...k], [2, 1, d]), cos, sin);
        const [a, b] = tf.unstack(tf.reshape(r, [2, d]));
        return tf.sum(tf.mul(a!, b!)).dataSync()[0]!;
      });
    expect(dot(7, 3)).toBeCloseTo(dot(14, 10), 4);
    expect(dot(7, 3)).not.toBeCloseTo(dot(7, 4), 3);
    expect(ropeInvFreq(8, 10000)[1]).toBeCloseTo(0.1, 7);
  });

  it('host-built tables (decoding steps) equal the op-built ones within 1 float32 ulp, with and without an attention factor', () => {
    const positions = [0, 1, 7, 40, 113];
    const yarn = ropeFrequencies(16, 10000, { type: 'yarn', factor: 4, originalMaxPositions: 32, attentionFactor: null, betaFast: 32, betaSlow: 1, mscale: null, mscaleAllDim: null, truncate: true });
    for (const freqs of [10000, yarn]) {
      const a = ropeTables(tf.tensor1d(positions, 'int32'), 16, freqs);
      const b = ropeTablesFromPositions(positions, 16, freqs);
      expect(b.cos.shape).toEqual([5, 1, 16]);
      for (const [x, y] of [[a.cos, b.cos], [a.sin, b.sin]] as const) {
        const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(x, y))).dataSync()[0]!);
        expect(diff).toBeLessThan(2.5e-7);
      }
      tf.dispose([a.cos, a.sin, b.cos, b.sin]);
    }
  });
});
