import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { setupTestBackend } from '../testing';
import { geluNew, layerNorm, linear } from './layers';

beforeAll(async () => {
  await setupTestBackend();
});

// The fused forms (closed-form gradients via tf.customGrad) against the plain formulas under autodiff.

function plainLayerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, eps: number): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), g), b);
}

function plainGelu(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(tf.add(x, tf.mul(tf.mul(tf.mul(x, x), x), 0.044715)), Math.sqrt(2 / Math.PI));
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
}

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  const x = a.dataSync();
  const y = b.dataSync();
  expect(x.length).toBe(y.length);
  let d = 0;
  for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i]! - y[i]!));
  return d;
}

describe('layerNorm', () => {
  it('matches the plain formula in value and in the gradients of x, gamma and beta', () => {
    const x = tf.mul(tf.randomNormal([7, 12], 0, 1, 'float32', 1), 3) as tf.Tensor2D;
    const g = tf.randomNormal([12], 1, 0.5, 'float32', 2) as tf.Tensor1D;
    const b = tf.randomNormal([12], 0, 0.5, 'float32', 3) as tf.Tensor1D;
    const w = tf.randomNormal([7, 12], 0, 1, 'float32', 4); // makes the upstream gradient non-uniform
    const loss = (f: (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.Tensor) => (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(f(xx, gg, bb), w));
    const fused = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor): tf.Tensor => layerNorm(xx as tf.Tensor2D, gg as tf.Tensor1D, bb as tf.Tensor1D, 1e-5);
    const plain = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor): tf.Tensor => plainLayerNorm(xx, gg, bb, 1e-5);
    const y = fused(x, g, b);
    const yRef = plain(x, g, b);
    expect(maxDiff(y, yRef)).toBeLessThan(1e-5);
    const grads = tf.grads(loss(fused))([x, g, b]);
    const ref = tf.grads(loss(plain))([x, g, b]);
    for (let i = 0; i < 3; i++) expect(maxDiff(grads[i]!, ref[i]!)).toBeLessThan(1e-4);
    // The x gradient of a LayerNorm sums to zero along each row (shift invariance): not a trivial zero.
    expect(Math.abs(grads[0]!.dataSync()[0]!)).toBeGreaterThan(1e-3);
    tf.dispose([x, g, b, w, y, yRef, ...grads, ...ref]);
  });
});

describe('geluNew', () => {
  it('matches 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) and its gradient', () => {
    const x = tf.linspace(-8, 8, 161);
    const y = geluNew(x);
    const yRef = plainGelu(x);
    expect(maxDiff(y, yRef)).toBeLessThan(1e-5);
    const g = tf.grad((t: tf.Tensor) => tf.sum(geluNew(t)))(x);
    const gRef = tf.grad((t: tf.Tensor) => tf.sum(plainGelu(t)))(x);
    expect(maxDiff(g, gRef)).toBeLessThan(1e-5);
    // Closed form at 1: Math.tanh in float64.
    const u = Math.sqrt(2 / Math.PI) * (1 + 0.044715);
    const at1 = 0.5 * (1 + Math.tanh(u));
    const one = geluNew(tf.tensor1d([1]));
    expect(Math.abs(one.dataSync()[0]! - at1)).toBeLessThan(1e-6);
    tf.dispose([x, y, yRef, g, gRef, one]);
  });
});

describe('linear', () => {
  it('adds the bias (fused) and propagates its gradient', () => {
    const x = tf.randomNormal([5, 3], 0, 1, 'float32', 5) as tf.Tensor2D;
    const w = tf.randomNormal([3, 4], 0, 1, 'float32', 6) as tf.Tensor2D;
    const b = tf.tensor1d([1, -2, 3, 0.5]);
    const f = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor): tf.Tensor => tf.sum(tf.square(linear(xx as tf.Tensor2D, ww as tf.Tensor2D, bb as tf.Tensor1D)));
    const r = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor): tf.Tensor => tf.sum(tf.square(tf.add(tf.matMul(xx, ww), bb)));
    expect(maxDiff(linear(x, w, b), tf.add(tf.matMul(x, w), b))).toBeLessThan(1e-5);
    const gs = tf.grads(f)([x, w, b]);
    const rs = tf.grads(r)([x, w, b]);
    for (let i = 0; i < 3; i++) expect(maxDiff(gs[i]!, rs[i]!)).toBeLessThan(1e-4);
    tf.dispose([x, w, b, ...gs, ...rs]);
  });
});
