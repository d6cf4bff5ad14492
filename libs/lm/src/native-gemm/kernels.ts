import * as tf from '@tensorflow/tfjs-core';
import { planMatMul, SIMD_GEMM_MAX_MACS } from '../wasm-kernels/batch-mat-mul';
import { asWasmBackend, byteOffset, type WasmBackend } from '../wasm-kernels/wasm-backend';
import type { NativeGemmAddon } from './load';

/**
 * Which products the native GEMM takes: those with more than `minMacs` multiply-adds per batch
 * entry. Smaller ones stay on emrl's wasm kernels: in the probe (docs/PERFORMANCE.md, "Native kernel
 * addon: the decision") the 51 x 51 x 24 attention products (~62k MACs) were a wash (0.8-1.2x, too
 * small to amortise packing) and decode products ~50 us either way, while every product from
 * 4.2M MACs up ran 2.2-3.7x faster. The wasm SIMD GEMM's own limit (2^18) splits the two.
 * Tests set minMacs to 0 to send every product to the addon.
 *
 * minRows: products of fewer output rows (m, times a's batch when b is one shared weight) with an
 * untransposed right operand also stay on the wasm kernels: decoding's matrix-vector products. At
 * Qwen2.5-0.5B's size (tools/bench/gemv-probe.ts) the addon took 1.4-2.3x the wasm kernels' CPU time
 * at 1-4 rows ([896, 4864] MLP weights: 2.8-3.1 vs 1.3-1.6 ms) and 0.4-0.75x at 16 rows and more,
 * while the tied head read transposed (x wte^T) was faster on the addon at every row count (0.6-0.7x
 * at 1-4 rows), hence transposed right operands keep the addon.
 */
export const nativeGemmRouting = { minMacs: SIMD_GEMM_MAX_MACS, minRows: 8 };

/** Products run by the addon since the process started (tests check the addon really ran). */
export const nativeGemmStats = { calls: 0 };

/**
 * out[..., m, n] = op(a) op(b) (+ bias [n]) by the native GEMM, operands read and output written in
 * place on the wasm heap (transposed operands read by strides, batch broadcasting by offsets).
 * a, b float32 of rank >= 2.
 */
export function nativeMatMul(
  addon: NativeGemmAddon,
  backend: WasmBackend,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  threads: 1 | 2,
  bias?: tf.TensorInfo,
): tf.TensorInfo {
  const plan = planMatMul(a.shape, b.shape, transposeA, transposeB);
  const { m, k, n, aIndex, bIndex } = plan;
  const out = backend.makeOutput(plan.outShape, 'float32');
  const count = aIndex.length;
  if (count * m * n === 0) return out;
  const offsets = new Int32Array(3 * count); // (a, b, c) float offsets per batch entry
  const aBase = byteOffset(backend, a) >>> 2; // unsigned: tensors above 2 GiB of heap have offsets >= 2^31
  const bBase = byteOffset(backend, b) >>> 2;
  const cBase = byteOffset(backend, out) >>> 2;
  for (let i = 0; i < count; i++) {
    offsets[3 * i] = aBase + aIndex[i]! * m * k;
    offsets[3 * i + 1] = bBase + bIndex[i]! * k * n;
    offsets[3 * i + 2] = cBase + i * m * n;
  }
  // HEAPF32 is re-read here: makeOutput may have grown the heap (emscripten then replaces the view).
  addon.sgemm(backend.wasm.HEAPF32, offsets, m, n, k, transposeA, transposeB, threads, bias ? byteOffset(backend, bias) >>> 2 : -1);
  nativeGemmStats.calls++;
  return out;
}

/**
 * Per-entry multiply-adds of a product the addon should take, or -1 when it should not: not float32,
 * or a matrix-vector-like product (fewer than minRows rows against an untransposed weight).
 */
function nativeMacs(a: tf.TensorInfo | undefined, b: tf.TensorInfo | undefined, transposeA: boolean, transposeB: boolean): number {
  if (!a || !b || a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return -1;
  const { m, k, n, aIndex, batchB } = planMatMul(a.shape, b.shape, transposeA, transposeB);
  const rows = batchB === 1 ? m * aIndex.length : m;
  if (!transposeB && rows < nativeGemmRouting.minRows) return -1;
  return m * k * n;
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

/** BatchMatMul: large float32 products on the addon, the rest on `previous` (emrl's wasm kernel). */
export function nativeBatchMatMulKernel(addon: NativeGemmAddon, threads: 1 | 2, previous: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { a, b } = args.inputs;
    const transposeA = Boolean(args.attrs?.['transposeA']);
    const transposeB = Boolean(args.attrs?.['transposeB']);
    if (nativeMacs(a, b, transposeA, transposeB) <= nativeGemmRouting.minMacs) return previous(args);
    return nativeMatMul(addon, asWasmBackend(args.backend), a!, b!, transposeA, transposeB, threads);
  };
}

/**
 * _FusedMatMul (tf.fused.matMul): large float32 products with no activation and no bias or a bias
 * of n elements on the addon (the bias is added inside the GEMM's output tile); other activations,
 * PReLU weights and other bias shapes stay on `previous`.
 */
export function nativeFusedMatMulKernel(addon: NativeGemmAddon, threads: 1 | 2, previous: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { a, b, bias, preluActivationWeights } = args.inputs;
    const attrs = args.attrs ?? {};
    const transposeA = Boolean(attrs['transposeA']);
    const transposeB = Boolean(attrs['transposeB']);
    const macs = nativeMacs(a, b, transposeA, transposeB);
    if (macs <= nativeGemmRouting.minMacs || preluActivationWeights || (attrs['activation'] ?? 'linear') !== 'linear') return previous(args);
    const n = transposeB ? b!.shape[b!.shape.length - 2]! : b!.shape[b!.shape.length - 1]!;
    if (bias && (bias.dtype !== 'float32' || tf.util.sizeFromShape(bias.shape) !== n || bias.shape[bias.shape.length - 1] !== n)) return previous(args);
    return nativeMatMul(addon, asWasmBackend(args.backend), a!, b!, transposeA, transposeB, threads, bias);
  };
}
