/**
 * Checks the native GEMM against emrl's wasm kernels (the BatchMatMul / _FusedMatMul fixes of
 * libs/lm) and against a float64 JS product, on odd shapes with every transpose combination,
 * broadcasting, bias, 1 and 2 threads. Exits 1 on any failure.
 *
 *   bash tools/native-gemm-probe/build.sh
 *   npx tsx --import ./tools/bench/register-hooks.ts tools/native-gemm-probe/check.ts
 */
import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '@emrl/lm';
import { loadNativeGemm, requireNativeGemm } from './native';
import { withNativeMatMul } from './native-matmul';
import { asWasmHeapBackend, heapF32 } from './wasm-heap';

const TOL = 1e-5;

interface Case {
  a: number[];
  b: number[];
  ta: boolean;
  tb: boolean;
  bias?: boolean;
}

/** float64 op(a) op(b) (+ bias) with broadcasting of the batch axes, from the tensors' values. */
function reference(a: tf.Tensor, b: tf.Tensor, ta: boolean, tb: boolean, outShape: number[], bias?: tf.Tensor): Float64Array {
  const av = a.dataSync();
  const bv = b.dataSync();
  const biasV = bias?.dataSync();
  const [m, n] = outShape.slice(-2) as [number, number];
  const k = ta ? a.shape[a.shape.length - 2]! : a.shape[a.shape.length - 1]!;
  const batch = tf.util.sizeFromShape(outShape.slice(0, -2));
  const aBatch = tf.util.sizeFromShape(a.shape.slice(0, -2));
  const bBatch = tf.util.sizeFromShape(b.shape.slice(0, -2));
  const out = new Float64Array(batch * m * n);
  for (let e = 0; e < batch; e++) {
    const ao = (aBatch === 1 ? 0 : e) * m * k; // the cases below broadcast only a whole batch of 1
    const bo = (bBatch === 1 ? 0 : e) * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = biasV ? biasV[j]! : 0;
        for (let p = 0; p < k; p++) s += av[ao + (ta ? p * m + i : i * k + p)]! * bv[bo + (tb ? j * k + p : p * n + j)]!;
        out[e * m * n + i * n + j] = s;
      }
    }
  }
  return out;
}

function maxAbsDiff(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length) return Infinity;
  let d = 0;
  for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i]! - y[i]!));
  return d;
}

function cases(): Case[] {
  const list: Case[] = [];
  const dims: [number, number, number][] = [
    [1, 1, 1],
    [7, 13, 5],
    [17, 300, 33],
    [61, 257, 97],
    [130, 61, 17], // m > the 120-row A block
    [250, 600, 40], // k over two 256-deep blocks
    [5, 40, 2100], // n over the 2048-column B block
    [333, 96, 384],
  ];
  for (const [m, k, n] of dims) {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) list.push({ a: ta ? [k, m] : [m, k], b: tb ? [n, k] : [k, n], ta, tb });
    }
  }
  for (const ta of [false, true]) {
    for (const tb of [false, true]) {
      list.push({ a: ta ? [3, 23, 19] : [3, 19, 23], b: tb ? [3, 29, 23] : [3, 23, 29], ta, tb });
      list.push({ a: ta ? [4, 23, 19] : [4, 19, 23], b: tb ? [29, 23] : [23, 29], ta, tb }); // b broadcast
      list.push({ a: ta ? [1, 23, 19] : [1, 19, 23], b: tb ? [4, 29, 23] : [4, 23, 29], ta, tb }); // a broadcast
      list.push({ a: ta ? [3, 23, 19] : [3, 19, 23], b: tb ? [1, 29, 23] : [1, 23, 29], ta, tb, bias: true }); // fused
    }
  }
  list.push({ a: [256, 51, 24], b: [256, 51, 24], ta: false, tb: true }); // attention scores of shape (a)
  list.push({ a: [256, 51, 51], b: [256, 51, 24], ta: true, tb: false }); // dk = dS^T q
  list.push({ a: [3264, 96], b: [3264, 384], ta: true, tb: false }); // weight gradient of shape (a)
  return list;
}

async function main(): Promise<void> {
  const info = await initBackend({ prefer: 'wasm' });
  if (!info.kernelFixes.includes('BatchMatMul')) throw new Error('tools/native-gemm-probe/check: emrl BatchMatMul fix not registered');
  const gemm = requireNativeGemm();
  let passed = 0;
  let failed = 0;
  let seed = 1;
  for (const c of cases()) {
    const k = c.ta ? c.a[c.a.length - 2]! : c.a[c.a.length - 1]!;
    const n = c.tb ? c.b[c.b.length - 2]! : c.b[c.b.length - 1]!;
    // Outputs of order 1 whatever k is, so the 1e-5 tolerance is absolute and relative at once.
    const a = tf.randomUniform(c.a, -1, 1, 'float32', seed++);
    const b = tf.mul(tf.randomUniform(c.b, -1, 1, 'float32', seed++), 1 / Math.sqrt(k));
    const bias = c.bias ? tf.randomUniform([n], -1, 1, 'float32', seed++) : undefined;
    const op = (): tf.Tensor =>
      bias && c.a.length === 3 && c.b.length === 3
        ? tf.fused.matMul({ a: a as tf.Tensor3D, b: b as tf.Tensor3D, bias, transposeA: c.ta, transposeB: c.tb })
        : tf.matMul(a, b, c.ta, c.tb);
    const wasm = op();
    const native1 = withNativeMatMul(gemm, 1, op);
    const native2 = withNativeMatMul(gemm, 2, op);
    const f64 = reference(a, b, c.ta, c.tb, wasm.shape, bias);
    const dWasm = maxAbsDiff(native1.dataSync(), wasm.dataSync());
    const dF64 = maxAbsDiff(native1.dataSync(), f64);
    const dWasmF64 = maxAbsDiff(wasm.dataSync(), f64);
    const sameThreads = maxAbsDiff(native1.dataSync(), native2.dataSync()) === 0;
    const shapeOk = native1.shape.join() === wasm.shape.join();
    const ok = shapeOk && dWasm <= TOL && dF64 <= TOL && sameThreads;
    if (ok) passed++;
    else failed++;
    const what = `${bias ? 'fused ' : ''}[${c.a}]${c.ta ? '^T' : ''} x [${c.b}]${c.tb ? '^T' : ''}`;
    console.log(
      `${ok ? 'ok  ' : 'FAIL'} ${what.padEnd(40)} |native-wasm| ${dWasm.toExponential(1)}  |native-f64| ${dF64.toExponential(1)}  |wasm-f64| ${dWasmF64.toExponential(1)}  2 threads ${sameThreads ? 'bit-identical' : 'DIFFER'}`,
    );
    tf.dispose([a, b, wasm, native1, native2, ...(bias ? [bias] : [])]);
  }
  // The addon refuses a product that would reach past the heap instead of reading foreign memory.
  const heap = heapF32(asWasmHeapBackend(tf.backend()));
  let refused = false;
  try {
    gemm.sgemm(heap, new Int32Array([0, 0, heap.length - 10]), 4, 4, 4, false, false, 1, -1);
  } catch (e) {
    refused = e instanceof RangeError;
  }
  if (refused) passed++;
  else failed++;
  console.log(`${refused ? 'ok  ' : 'FAIL'} out-of-heap output offset is refused with a RangeError`);
  // The fallback: a missing or foreign binary is reported with a reason, never thrown.
  const missing = loadNativeGemm(fileURLToPath(new URL('./build/Release/no-such-addon.node', import.meta.url)));
  const foreignPath = join(mkdtempSync(join(tmpdir(), 'native-gemm-probe-')), 'foreign.cjs');
  writeFileSync(foreignPath, 'module.exports = { answer: 42 };\n');
  const foreign = loadNativeGemm(foreignPath);
  const fallbackOk = !missing.ok && /not built/.test(missing.reason) && !foreign.ok && /not emrl's native GEMM addon/.test(foreign.reason);
  rmSync(dirname(foreignPath), { recursive: true });
  if (fallbackOk) passed++;
  else failed++;
  console.log(`${fallbackOk ? 'ok  ' : 'FAIL'} missing / foreign addon gives a reason to fall back (${missing.ok ? '' : missing.reason}; ${foreign.ok ? '' : foreign.reason.slice(0, 80)})`);
  console.log(`${passed} passed, ${failed} failed`);
  if (failed > 0) process.exitCode = 1;
}

await main();
