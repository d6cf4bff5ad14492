import * as tf from '@tensorflow/tfjs-core';
import { asWasmBackend } from '../wasm-kernels/wasm-backend';

/**
 * Live float32 memory of tensors on the two synchronous in-process backends, for the fused decoding
 * kernels (decode-kernels.ts) and the in-place KV cache. 'wasm': a view of the wasm heap (re-take it
 * after anything that may allocate: the heap can grow); 'cpu': the backend's own values array.
 */
export type InPlaceBackendName = 'wasm' | 'cpu';

interface CpuBackendLike {
  data: { get(dataId: object): { values?: unknown } | undefined };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: Float32Array): tf.TensorInfo;
}

/** 'wasm' or 'cpu' when the active backend keeps tensors in memory this module can write, else null. */
export function inPlaceBackend(): InPlaceBackendName | null {
  const name = tf.getBackend();
  return name === 'wasm' || name === 'cpu' ? name : null;
}

/** Float32 view of a float32 tensor's data (no copy; writes change the tensor). */
export function liveF32(backend: unknown, t: tf.TensorInfo): Float32Array {
  if (t.dtype !== 'float32') throw new Error(`libs/lm/src/model/tensor-memory.ts: expected a float32 tensor, got ${t.dtype}`);
  const size = tf.util.sizeFromShape(t.shape);
  const maybeWasm = backend as { wasm?: unknown };
  if (maybeWasm.wasm) {
    const w = asWasmBackend(backend);
    return new Float32Array(w.wasm.HEAPU8.buffer, w.dataIdMap.get(t.dataId).memoryOffset, size);
  }
  const values = (backend as CpuBackendLike).data.get(t.dataId)?.values;
  if (!(values instanceof Float32Array)) {
    throw new Error('libs/lm/src/model/tensor-memory.ts: tensor has no float32 values on this backend; in-place access needs the wasm or cpu backend');
  }
  return values.length === size ? values : values.subarray(0, size);
}

/** A new float32 output tensor of `shape` on `backend` (zero-filled on cpu; write every element). */
export function newF32(backend: unknown, shape: number[]): tf.TensorInfo {
  const maybeWasm = backend as { wasm?: unknown };
  if (maybeWasm.wasm) return asWasmBackend(backend).makeOutput(shape, 'float32');
  return (backend as CpuBackendLike).makeTensorInfo(shape, 'float32', new Float32Array(tf.util.sizeFromShape(shape)));
}

/** Live view of a tensor on the active backend (outside a kernel). */
export function liveF32OfTensor(t: tf.Tensor): Float32Array {
  return liveF32(tf.backend(), t);
}
