import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend';
import { LARGE_WEIGHT_FLOATS, simdGemmRouting } from './batch-mat-mul';
import { wasmHeapBytes } from './wasm-backend';

// The large-weight route (a batch-1 right operand of >= largeWeightFloats floats runs in the SIMD
// GEMM, never packed by XNNPACK) against the XNNPACK path it replaces and a float64 reference.
// The threshold is lowered so odd small shapes take the route.

beforeAll(async () => {
  const info = await initBackend({ prefer: 'wasm' });
  expect(info.name).toBe('wasm');
});

afterEach(() => {
  simdGemmRouting.largeWeight = true;
  simdGemmRouting.largeWeightFloats = LARGE_WEIGHT_FLOATS;
});

let seed = 11;
const rand = (shape: number[]): tf.Tensor => tf.randomNormal(shape, 0, 1, 'float32', seed++);

/** Runs `fn` on the large-weight route (threshold 1) and on the XNNPACK path (route off). */
function bothRoutes(fn: () => tf.Tensor): { routed: Float32Array; xnn: Float32Array; shape: number[] } {
  simdGemmRouting.largeWeightFloats = 1;
  const r = fn();
  simdGemmRouting.largeWeight = false;
  const x = fn();
  simdGemmRouting.largeWeight = true;
  const out = { routed: r.dataSync() as Float32Array, xnn: x.dataSync() as Float32Array, shape: r.shape };
  expect(x.shape).toEqual(r.shape);
  r.dispose();
  x.dispose();
  return out;
}

function reference(a: Float32Array, b: Float32Array, m: number, k: number, n: number, ta: boolean, tb: boolean): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[ta ? p * m + i : i * k + p]! * b[tb ? j * k + p : p * n + j]!;
      c[i * n + j] = s;
    }
  return c;
}

function expectClose(actual: Float32Array, expected: ArrayLike<number>, tol = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!) / (1 + Math.abs(expected[i]!)));
  expect(worst).toBeLessThan(tol);
}

describe('large-weight SIMD GEMM route', () => {
  const shapes: [number, number, number][] = [
    [1, 7, 5], // one row (decoding)
    [13, 37, 29], // odd everything: row and column tails
    [6, 130, 9], // k over one k-block (128)
    [33, 17, 131],
  ];
  for (const [m, k, n] of shapes) {
    for (const [ta, tb] of [
      [false, false],
      [false, true],
      [true, false],
      [true, true],
    ] as const) {
      it(`matMul m ${m} k ${k} n ${n} transposeA=${ta} transposeB=${tb} equals XNNPACK and float64`, () => {
        const a = rand(ta ? [k, m] : [m, k]);
        const b = rand(tb ? [n, k] : [k, n]);
        const { routed, xnn, shape } = bothRoutes(() => tf.matMul(a, b, ta, tb));
        expect(shape).toEqual([m, n]);
        expectClose(routed, xnn);
        expectClose(routed, reference(a.dataSync() as Float32Array, b.dataSync() as Float32Array, m, k, n, ta, tb));
        a.dispose();
        b.dispose();
      });
    }
  }

  it('a batched left operand against one weight folds rows (x W and dY W^T), equal to XNNPACK', () => {
    const a = rand([3, 5, 19]);
    for (const tb of [false, true]) {
      const w = rand(tb ? [23, 19] : [19, 23]);
      const { routed, xnn, shape } = bothRoutes(() => tf.matMul(a, tf.reshape(w, [1, ...w.shape]), false, tb));
      expect(shape).toEqual([3, 5, 23]);
      expectClose(routed, xnn);
      w.dispose();
    }
    a.dispose();
  });

  it('a transposed batched left operand runs one GEMM per entry, equal to XNNPACK', () => {
    const a = rand([4, 21, 6]); // a^T entries [6, 21]
    const w = rand([1, 21, 11]);
    const { routed, xnn, shape } = bothRoutes(() => tf.matMul(a, w, true, false));
    expect(shape).toEqual([4, 6, 11]);
    expectClose(routed, xnn);
    a.dispose();
    w.dispose();
  });

  it('fused matMul with bias (linear) takes the route and equals the stock fused kernel', () => {
    const x = rand([9, 27]);
    const w = rand([27, 14]);
    const bias = rand([14]);
    const { routed, xnn } = bothRoutes(() => tf.fused.matMul({ a: x, b: w, bias }));
    expectClose(routed, xnn);
    const ref = reference(x.dataSync() as Float32Array, w.dataSync() as Float32Array, 9, 27, 14, false, false);
    const bv = bias.dataSync();
    expectClose(routed, ref.map((v, i) => v + bv[i % 14]!));
    tf.dispose([x, w, bias]);
  });

  it('gradients through the route equal the XNNPACK path (x W^T as in a tied head)', () => {
    const x = rand([7, 15]);
    const wte = rand([40, 15]);
    const loss = (): tf.Tensor => tf.tidy(() => tf.grad((xx: tf.Tensor) => tf.sum(tf.square(tf.matMul(xx, wte, false, true))))(x));
    const { routed, xnn } = bothRoutes(loss);
    expectClose(routed, xnn, 1e-4);
    tf.dispose([x, wte]);
  });

  it('leaves no tensors behind and frees its temporaries', () => {
    const a = rand([5, 33]);
    const b = rand([47, 33]);
    simdGemmRouting.largeWeightFloats = 1;
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) tf.matMul(a, b, false, true).dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([a, b]);
  });

  it('wasmHeapBytes reports the backend heap', () => {
    const bytes = wasmHeapBytes();
    expect(bytes).not.toBeNull();
    expect(bytes! % 65536).toBe(0); // whole wasm pages
  });
});
