import * as tf from '@tensorflow/tfjs-core';

/**
 * The parts of tfjs-backend-wasm 4.22's BackendWasm the probe reads, as libs/lm/src/wasm-kernels
 * (wasm-backend.ts) does: the module's HEAPF32 view and each tensor's byte offset in the heap. Not
 * exported by @emrl/lm, so restated here for the probe only.
 */
export interface WasmHeapBackend {
  wasm: { HEAPF32: Float32Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

export function asWasmHeapBackend(backend: unknown): WasmHeapBackend {
  const b = backend as Partial<WasmHeapBackend> | null;
  if (!b?.wasm?.HEAPF32 || !b.dataIdMap || typeof b.makeOutput !== 'function') {
    throw new Error('tools/native-gemm-probe: backend is not tfjs-backend-wasm 4.22 (no wasm.HEAPF32 / dataIdMap); run with the wasm backend');
  }
  return b as WasmHeapBackend;
}

/** Float offset of a float32 tensor's data in HEAPF32. */
export function floatOffset(backend: WasmHeapBackend, t: tf.TensorInfo): number {
  return backend.dataIdMap.get(t.dataId).memoryOffset >> 2;
}

/**
 * The current HEAPF32 view. Emscripten replaces it when the heap grows, so re-read it after anything
 * that allocates (makeOutput, another kernel).
 */
export function heapF32(backend: WasmHeapBackend): Float32Array {
  return backend.wasm.HEAPF32;
}
