import * as tf from '@tensorflow/tfjs-core';
import type { NativeGemm } from './native';
import { asWasmHeapBackend, floatOffset, heapF32, type WasmHeapBackend } from './wasm-heap';

/**
 * BatchMatMul and _FusedMatMul on the wasm backend through the native GEMM, reading the operands and
 * writing the output in place on the wasm heap (transposed operands read in place by strides).
 * Registered only for the probe's A/B (train-ab.ts); libs/lm never sees it.
 */

/** Flat index into `inShape` (right-aligned, size-1 axes broadcast) for each flat index of `outShape`. */
function broadcastIndex(outShape: number[], inShape: number[]): Int32Array {
  const size = tf.util.sizeFromShape(outShape);
  const rank = outShape.length;
  const strides = new Array<number>(rank).fill(0);
  let s = 1;
  for (let i = inShape.length - 1; i >= 0; i--) {
    strides[i + rank - inShape.length] = inShape[i] === 1 ? 0 : s;
    s *= inShape[i]!;
  }
  const index = new Int32Array(size);
  for (let flat = 0; flat < size; flat++) {
    let rem = flat;
    let idx = 0;
    for (let ax = rank - 1; ax >= 0; ax--) {
      idx += (rem % outShape[ax]!) * strides[ax]!;
      rem = Math.floor(rem / outShape[ax]!);
    }
    index[flat] = idx;
  }
  return index;
}

/** out[..., m, n] = op(a) op(b) (+ bias [n]) by the native GEMM; a, b float32 of rank >= 2. */
export function nativeMatMul(
  gemm: NativeGemm,
  backend: WasmHeapBackend,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transA: boolean,
  transB: boolean,
  threads: 1 | 2,
  bias?: tf.TensorInfo,
): tf.TensorInfo {
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) {
    throw new Error(`tools/native-gemm-probe: matMul needs float32 inputs of rank >= 2, got ${a.dtype} [${a.shape}] x ${b.dtype} [${b.shape}]`);
  }
  const ar = a.shape.length;
  const br = b.shape.length;
  const m = transA ? a.shape[ar - 1]! : a.shape[ar - 2]!;
  const k = transA ? a.shape[ar - 2]! : a.shape[ar - 1]!;
  const kb = transB ? b.shape[br - 1]! : b.shape[br - 2]!;
  const n = transB ? b.shape[br - 2]! : b.shape[br - 1]!;
  if (k !== kb) throw new Error(`tools/native-gemm-probe: inner sizes ${k} and ${kb} of [${a.shape}] and [${b.shape}] (transA ${transA}, transB ${transB}) differ`);
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  const batchShape = tf.broadcast_util.assertAndGetBroadcastShape(aBatch, bBatch);
  const out = backend.makeOutput([...batchShape, m, n], 'float32');
  const aIndex = broadcastIndex(batchShape, aBatch);
  const bIndex = broadcastIndex(batchShape, bBatch);
  const offsets = new Int32Array(3 * aIndex.length);
  const aBase = floatOffset(backend, a);
  const bBase = floatOffset(backend, b);
  const cBase = floatOffset(backend, out);
  for (let i = 0; i < aIndex.length; i++) {
    offsets[3 * i] = aBase + aIndex[i]! * m * k;
    offsets[3 * i + 1] = bBase + bIndex[i]! * k * n;
    offsets[3 * i + 2] = cBase + i * m * n;
  }
  if (offsets.length > 0 && m * n > 0) {
    gemm.sgemm(heapF32(backend), offsets, m, n, k, transA, transB, threads, bias ? floatOffset(backend, bias) : -1);
  }
  return out;
}

interface Saved {
  config: tf.KernelConfig;
}

const saved = new Map<string, Saved>();

/** Currently registered kernel config (the emrl fix, or the stock one), to restore later. */
function take(kernelName: string): tf.KernelConfig {
  const config = tf.getKernel(kernelName, 'wasm');
  if (!config) throw new Error(`tools/native-gemm-probe: no ${kernelName} kernel on wasm; call initBackend({ prefer: 'wasm' }) first`);
  saved.set(kernelName, { config });
  tf.unregisterKernel(kernelName, 'wasm');
  return config;
}

/**
 * Swap the native GEMM in for BatchMatMul and _FusedMatMul (bias [n] and linear activation; other
 * fused cases call the kernel it replaced). Undo with `unregisterNativeMatMul`.
 */
export function registerNativeMatMul(gemm: NativeGemm, threads: 1 | 2): void {
  if (saved.size > 0) return;
  take('BatchMatMul');
  const fusedBefore = take('_FusedMatMul');
  tf.registerKernel({
    kernelName: 'BatchMatMul',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) =>
      nativeMatMul(gemm, asWasmHeapBackend(backend), inputs['a']!, inputs['b']!, Boolean(attrs?.['transposeA']), Boolean(attrs?.['transposeB']), threads),
  });
  tf.registerKernel({
    kernelName: '_FusedMatMul',
    backendName: 'wasm',
    kernelFunc: (args) => {
      const { a, b, bias, preluActivationWeights } = args.inputs;
      const attrs = args.attrs ?? {};
      const n = b && (attrs['transposeB'] ? b.shape[b.shape.length - 2] : b.shape[b.shape.length - 1]);
      const plainBias = !bias || (bias.dtype === 'float32' && tf.util.sizeFromShape(bias.shape) === n && bias.shape[bias.shape.length - 1] === n);
      if (!a || !b || preluActivationWeights || (attrs['activation'] ?? 'linear') !== 'linear' || !plainBias) return fusedBefore.kernelFunc(args);
      return nativeMatMul(gemm, asWasmHeapBackend(args.backend), a, b, Boolean(attrs['transposeA']), Boolean(attrs['transposeB']), threads, bias);
    },
  });
}

/** Put back the kernels `registerNativeMatMul` replaced. */
export function unregisterNativeMatMul(): void {
  for (const [name, { config }] of saved) {
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(config);
  }
  saved.clear();
}

/** Run `fn` with the native GEMM registered, then restore. `fn` must be synchronous. */
export function withNativeMatMul<T>(gemm: NativeGemm, threads: 1 | 2, fn: () => T): T {
  registerNativeMatMul(gemm, threads);
  try {
    return fn();
  } finally {
    unregisterNativeMatMul();
  }
}
