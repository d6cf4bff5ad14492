import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend';
import { WASM_KERNEL_FIX_NAMES, registerWasmKernelFixes, wasmKernelFixesRegistered, withUntouchedKernels } from './index';
import { reducePermutation } from './transpose';

// Every fix is checked against an independent computation (JS reference) and/or the stock wasm kernel.

let seed = 1;
function rand(shape: number[]): tf.Tensor {
  return tf.randomNormal(shape, 0, 1, 'float32', seed++);
}

/** Reference batched matmul in float64 with numpy-style batch broadcasting. */
function refMatMul(a: tf.Tensor, b: tf.Tensor, ta: boolean, tb: boolean): { shape: number[]; data: Float64Array } {
  const av = a.dataSync();
  const bv = b.dataSync();
  const ar = a.rank;
  const br = b.rank;
  const m = ta ? a.shape[ar - 1]! : a.shape[ar - 2]!;
  const k = ta ? a.shape[ar - 2]! : a.shape[ar - 1]!;
  const n = tb ? b.shape[br - 2]! : b.shape[br - 1]!;
  const aB = a.shape.slice(0, -2);
  const bB = b.shape.slice(0, -2);
  const rank = Math.max(aB.length, bB.length);
  const pad = (s: number[]): number[] => [...new Array<number>(rank - s.length).fill(1), ...s];
  const pa = pad(aB);
  const pb = pad(bB);
  const oB = pa.map((d, i) => Math.max(d, pb[i]!));
  const batch = oB.reduce((p, d) => p * d, 1);
  const data = new Float64Array(batch * m * n);
  for (let o = 0; o < batch; o++) {
    let rem = o;
    let ia = 0;
    let ib = 0;
    let sa = 1;
    let sb = 1;
    for (let ax = rank - 1; ax >= 0; ax--) {
      const c = rem % oB[ax]!;
      rem = Math.floor(rem / oB[ax]!);
      ia += (pa[ax] === 1 ? 0 : c) * sa;
      ib += (pb[ax] === 1 ? 0 : c) * sb;
      sa *= pa[ax]!;
      sb *= pb[ax]!;
    }
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) {
          const x = av[ia * m * k + (ta ? p * m + i : i * k + p)]!;
          const y = bv[ib * k * n + (tb ? j * k + p : p * n + j)]!;
          s += x * y;
        }
        data[o * m * n + i * n + j] = s;
      }
    }
  }
  return { shape: [...oB.slice(rank - Math.max(aB.length, bB.length)), m, n], data };
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol = 1e-4): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!) / (1 + Math.abs(expected[i]!)));
  expect(worst).toBeLessThan(atol);
}

beforeAll(async () => {
  const info = await initBackend({ prefer: 'wasm' });
  expect(info.name).toBe('wasm');
});

describe('registration', () => {
  it('registers every fix once and withUntouchedKernels restores them', () => {
    expect(registerWasmKernelFixes()).toEqual([...WASM_KERNEL_FIX_NAMES]);
    expect(registerWasmKernelFixes()).toEqual([...WASM_KERNEL_FIX_NAMES]);
    const inside = withUntouchedKernels(() => ({ fixes: wasmKernelFixesRegistered(), segSum: tf.getKernel('UnsortedSegmentSum', 'wasm') }));
    expect(inside.fixes).toEqual([]);
    expect(inside.segSum).toBeUndefined();
    expect(wasmKernelFixesRegistered()).toEqual([...WASM_KERNEL_FIX_NAMES]);
  });
});

describe('BatchMatMul', () => {
  const cases: [string, number[], number[], boolean, boolean][] = [
    ['2-D plain', [7, 5], [5, 3], false, false],
    ['2-D transposeA (weight grad)', [9, 4], [9, 6], true, false],
    ['2-D transposeB (input grad, tied head)', [9, 4], [6, 4], false, true],
    ['2-D both transposed', [4, 9], [6, 4], true, true],
    ['attention scores [B*H, T, hs] x [B*H, hs, T]', [8, 13, 6], [8, 6, 13], false, false],
    ['attention grad dV = P^T dY', [8, 13, 13], [8, 13, 6], true, false],
    ['attention grad dP = dY V^T', [8, 13, 6], [8, 13, 6], false, true],
    ['attention both transposed', [8, 6, 13], [8, 13, 6], true, true],
    ['rank 4', [2, 3, 5, 4], [2, 3, 4, 6], false, false],
    ['b batch 1 broadcasts (folds rows)', [4, 5, 3], [1, 3, 2], false, false],
    ['rank 3 x rank 2', [4, 5, 3], [3, 2], false, false],
    ['a batch 1 broadcasts', [1, 5, 3], [4, 2, 3], false, true],
    ['batch 1 both', [1, 5, 3], [1, 5, 2], true, false],
    ['2-axis broadcast', [2, 1, 5, 3], [1, 3, 3, 4], false, false],
    // Batched entries up to SIMD_GEMM_MAX_MACS run the generated SIMD GEMM (row and lane tails here).
    ['large entries plain', [3, 20, 24], [3, 24, 21], false, false],
    ['large entries transposeA', [3, 24, 20], [3, 24, 21], true, false],
    ['large entries transposeB', [3, 20, 24], [3, 21, 24], false, true],
    ['large entries both transposed', [3, 24, 20], [3, 21, 24], true, true],
    ['large entries, a batch 1 broadcasts', [1, 20, 24], [3, 24, 21], false, false],
    ['decoding step q k^T [B*H, 1, hd] x [B*H, Tk, hd]^T', [16, 1, 24], [16, 50, 24], false, true],
    // Above SIMD_GEMM_MAX_MACS per entry: one XNNPACK call per entry.
    ['XNNPACK entries', [2, 65, 80], [2, 80, 67], false, false],
    ['XNNPACK entries transposeA', [2, 80, 65], [2, 80, 67], true, false],
    // Weight gradients x^T dy with k >= 8 max(m, n): SIMD GEMM with k-blocks (k > 128, partial last block).
    ['weight grad x^T dy, k-blocked', [300, 13], [300, 37], true, false],
    ['weight grad x^T dy, k-blocked, wide', [400, 7], [400, 50], true, false],
  ];
  for (const [name, as, bs, ta, tb] of cases) {
    it(`${name}: a [${as}] b [${bs}] tA=${ta} tB=${tb} matches a float64 reference`, () => {
      const a = rand(as);
      const b = rand(bs);
      const out = tf.matMul(a, b, ta, tb);
      const ref = refMatMul(a, b, ta, tb);
      expect(out.shape).toEqual(ref.shape);
      expectClose(out.dataSync(), ref.data);
      tf.dispose([a, b, out]);
    });
  }

  it('matches the stock kernel on the attention shape with transposes', () => {
    const a = rand([16, 51, 24]);
    const b = rand([16, 51, 24]);
    const fixed = tf.matMul(a, b, false, true);
    const stock = withUntouchedKernels(() => tf.matMul(a, b, false, true));
    expectClose(fixed.dataSync(), stock.dataSync());
    tf.dispose([a, b, fixed, stock]);
  });

  it('handles empty and K = 0 products', () => {
    const e = tf.matMul(tf.zeros([0, 3]), tf.zeros([3, 4]));
    expect(e.shape).toEqual([0, 4]);
    const z = tf.matMul(tf.ones([2, 0]), tf.ones([0, 3]));
    expect(Array.from(z.dataSync())).toEqual([0, 0, 0, 0, 0, 0]);
    tf.dispose([e, z]);
  });

  it('rejects mismatched inner dimensions', () => {
    const a = rand([2, 3]);
    const b = rand([4, 2]);
    expect(() => tf.matMul(a, b)).toThrow(/inner shapes/);
    tf.dispose([a, b]);
  });

  it('gives the same gradients as the stock kernel', () => {
    const a = rand([6, 7, 5]);
    const b = rand([6, 5, 4]);
    const f = (x: tf.Tensor, y: tf.Tensor): tf.Tensor => tf.sum(tf.square(tf.matMul(x, y)));
    const [ga, gb] = tf.grads(f)([a, b]);
    const [sa, sb] = withUntouchedKernels(() => tf.grads(f)([a, b]));
    expectClose(ga!.dataSync(), sa!.dataSync());
    expectClose(gb!.dataSync(), sb!.dataSync());
    tf.dispose([a, b, ga!, gb!, sa!, sb!]);
  });
});

describe('_FusedMatMul', () => {
  it('matches matMul + bias + relu with transposes and a shared right operand', () => {
    const a = rand([3, 4, 5]);
    const b = rand([1, 6, 4]);
    const bias = rand([6]);
    const out = tf.fused.matMul({ a, b, transposeA: true, transposeB: true, bias, activation: 'relu' });
    const ref = tf.relu(tf.add(tf.matMul(a, b, true, true), bias));
    expect(out.shape).toEqual([3, 5, 6]);
    expectClose(out.dataSync(), ref.dataSync());
    tf.dispose([a, b, bias, out, ref]);
  });
});

describe('Transpose', () => {
  it('reducePermutation merges neighbouring axes and drops unit axes', () => {
    expect(reducePermutation([2, 3, 4, 5], [0, 2, 1, 3])).toEqual({ shape: [2, 3, 4, 5], perm: [0, 2, 1, 3] });
    expect(reducePermutation([2, 3, 4, 5], [2, 3, 0, 1])).toEqual({ shape: [6, 20], perm: [1, 0] });
    expect(reducePermutation([2, 1, 4], [1, 2, 0])).toEqual({ shape: [2, 4], perm: [1, 0] });
  });

  for (const [shape, perm] of [
    [[3, 5, 2, 4, 6], [2, 0, 3, 1, 4]],
    [[2, 3, 4, 5, 6, 2], [5, 3, 1, 4, 2, 0]],
    [[4, 3, 5, 2], [0, 2, 3, 1]],
  ] as [number[], number[]][]) {
    it(`rank ${shape.length} perm [${perm}] matches the stock kernel (float32 and int32)`, () => {
      const x = rand(shape);
      const xi = tf.cast(tf.mul(x, 100), 'int32');
      const fixed = tf.transpose(x, perm);
      const fixedI = tf.transpose(xi, perm);
      const stock = withUntouchedKernels(() => tf.transpose(x, perm));
      const stockI = withUntouchedKernels(() => tf.transpose(xi, perm));
      expect(fixed.shape).toEqual(stock.shape);
      expect(Array.from(fixed.dataSync())).toEqual(Array.from(stock.dataSync()));
      expect(Array.from(fixedI.dataSync())).toEqual(Array.from(stockI.dataSync()));
      tf.dispose([x, xi, fixed, fixedI, stock, stockI]);
    });
  }
});

describe('UnsortedSegmentSum', () => {
  it('sums rows per segment and drops out-of-range ids', () => {
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6, 7, 8], [4, 2]);
    const ids = tf.tensor1d([2, 0, 2, 7], 'int32');
    const out = tf.unsortedSegmentSum(x, ids, 3);
    expect(out.shape).toEqual([3, 2]);
    expect(Array.from(out.dataSync())).toEqual([3, 4, 0, 0, 6, 8]);
    tf.dispose([x, ids, out]);
  });

  it('makes the embedding gradient (gather) equal to the per-token counts times dy', () => {
    const table = rand([10, 3]);
    const ids = tf.tensor1d([1, 4, 1, 9, 1], 'int32');
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.gather(t, ids)))(table);
    const expected = new Float32Array(30);
    for (const id of [1, 4, 1, 9, 1]) for (let j = 0; j < 3; j++) expected[id * 3 + j]! += 1;
    expect(Array.from(g.dataSync())).toEqual(Array.from(expected));
    tf.dispose([table, ids, g]);
  });
});

describe('Slice, SplitV, GatherV2', () => {
  it('slices and splits like the stock kernels', () => {
    const x = rand([5, 4, 6]);
    const parts = tf.split(x, [1, 3, 2], 2);
    const stockParts = withUntouchedKernels(() => tf.split(x, [1, 3, 2], 2));
    parts.forEach((p, i) => expect(Array.from(p.dataSync())).toEqual(Array.from(stockParts[i]!.dataSync())));
    const s = tf.slice(x, [1, 2, 0], [3, -1, -1]);
    const s2 = tf.slice(x, [4, 1, 2], [1, 2, 3]);
    const stock = withUntouchedKernels(() => [tf.slice(x, [1, 2, 0], [3, -1, -1]), tf.slice(x, [4, 1, 2], [1, 2, 3])]);
    expect(Array.from(s.dataSync())).toEqual(Array.from(stock[0]!.dataSync()));
    expect(Array.from(s2.dataSync())).toEqual(Array.from(stock[1]!.dataSync()));
    tf.dispose([x, ...parts, ...stockParts, s, s2, ...stock]);
  });

  it('gathers along axis 0 and 1 like the stock kernel and rejects bad indices', () => {
    const x = rand([6, 5, 3]);
    const idx = tf.tensor2d([0, 5, 2, 2], [2, 2], 'int32');
    const idx1 = tf.tensor1d([4, 0, 4], 'int32');
    const g0 = tf.gather(x, idx, 0);
    const g1 = tf.gather(x, idx1, 1);
    const [s0, s1] = withUntouchedKernels(() => [tf.gather(x, idx, 0), tf.gather(x, idx1, 1)]);
    expect(g0.shape).toEqual([2, 2, 5, 3]);
    expect(Array.from(g0.dataSync())).toEqual(Array.from(s0!.dataSync()));
    expect(Array.from(g1.dataSync())).toEqual(Array.from(s1!.dataSync()));
    const bad = tf.tensor1d([6], 'int32');
    expect(() => tf.gather(x, bad)).toThrow(/not in \[0, 5\]/);
    tf.dispose([x, idx, idx1, g0, g1, s0!, s1!, bad]);
  });
});

describe('Identity', () => {
  it('identity shares data without a copy and disposing either side keeps the other valid', () => {
    const x = rand([4, 5]);
    const expected = Array.from(x.dataSync());
    const y = tf.clone(x); // runs the Identity kernel
    expect(Array.from(y.dataSync())).toEqual(expected);
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual(expected);
    const z = tf.add(y, 1);
    y.dispose();
    expect(Array.from(z.dataSync())).toEqual(expected.map((v) => Math.fround(v + 1)));
    z.dispose();
  });

  it('softmax cross-entropy gradients match the stock kernels (Identity in the tape)', () => {
    const logits = rand([30, 17]);
    const labels = tf.oneHot(tf.tensor1d(Array.from({ length: 30 }, (_, i) => (i * 7) % 17), 'int32'), 17);
    const f = (l: tf.Tensor): tf.Scalar => tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(l), labels), -1))) as tf.Scalar;
    const g = tf.grad(f);
    const fixed = g(logits);
    const stock = withUntouchedKernels(() => g(logits));
    expectClose(fixed.dataSync(), stock.dataSync(), 1e-6);
    tf.dispose([logits, labels, fixed, stock]);
  });
});

describe('Tanh and Pow', () => {
  it('tanh matches Math.tanh within 1e-6 over a wide range', () => {
    const values = Array.from({ length: 2001 }, (_, i) => (i - 1000) / 50);
    const out = tf.tanh(tf.tensor1d(values)).dataSync();
    let worst = 0;
    values.forEach((v, i) => (worst = Math.max(worst, Math.abs(out[i]! - Math.tanh(v)))));
    expect(worst).toBeLessThan(1e-6);
  });

  it('pow with integer exponents matches the stock kernel; other exponents fall back', () => {
    const x = rand([50]);
    for (const e of [0, 1, 2, 3, 4]) {
      const fixed = tf.pow(x, e);
      const stock = withUntouchedKernels(() => tf.pow(x, e));
      expectClose(fixed.dataSync(), stock.dataSync(), 1e-6);
      tf.dispose([fixed, stock]);
    }
    const ax = tf.abs(x);
    const half = tf.pow(ax, 0.5);
    expectClose(half.dataSync(), tf.sqrt(ax).dataSync(), 1e-6);
    tf.dispose([x, ax, half]);
  });
});
