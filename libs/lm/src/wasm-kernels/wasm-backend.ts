import * as tf from '@tensorflow/tfjs-core';

/**
 * The parts of tfjs-backend-wasm 4.22's BackendWasm (dist/backend_wasm.js) that the kernel fixes use.
 * Typed here because the package does not export the class's internals; checked at run time by
 * `asWasmBackend`.
 */
export interface WasmModule {
  HEAPU8: Uint8Array;
  HEAPF32: Float32Array;
  HEAP32: Int32Array;
  _malloc(bytes: number): number;
  _free(ptr: number): void;
  /** C export of BatchMatMul: (aId, aShapePtr, aRank, bId, bShapePtr, bRank, transposeA, transposeB, outId). */
  _BatchMatMul(aId: number, aShape: number, aRank: number, bId: number, bShape: number, bRank: number, ta: number, tb: number, outId: number): void;
  /**
   * C export of _FusedMatMul (emscripten prefixes the C name `_FusedMatMul` with `_`): (aId, aShapePtr,
   * aRank, bId, bShapePtr, bRank, transposeA, transposeB, activation, biasId, preluId, leakyreluAlpha, outId).
   */
  __FusedMatMul(aId: number, aShape: number, aRank: number, bId: number, bShape: number, bRank: number, ta: number, tb: number, act: number, biasId: number, preluId: number, alpha: number, outId: number): void;
  /** The module's exports; `memory` is the heap, imported by the generated SIMD kernels. */
  asm: { memory: { readonly buffer: ArrayBuffer } };
  tfjs: { registerTensor(id: number, size: number, memoryOffset: number): void; disposeData(id: number): void };
}

interface TensorData {
  id: number;
  memoryOffset: number;
  shape: number[];
  dtype: tf.DataType;
  refCount: number;
}

export interface WasmBackend {
  wasm: WasmModule;
  dataIdMap: { get(dataId: object): TensorData; delete(dataId: object): void };
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number): tf.TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
  incRef(dataId: object): void;
}

export function asWasmBackend(backend: unknown): WasmBackend {
  const b = backend as Partial<WasmBackend> | null;
  if (!b || !b.wasm || typeof b.wasm._BatchMatMul !== 'function' || !b.dataIdMap || typeof b.makeOutput !== 'function') {
    throw new Error('libs/lm/src/wasm-kernels: backend is not tfjs-backend-wasm 4.22 (missing wasm._BatchMatMul / dataIdMap); register the fixes only on wasm');
  }
  return b as WasmBackend;
}

/** Numeric C++ tensor id of a tensor. */
export function tensorId(backend: WasmBackend, t: tf.TensorInfo): number {
  return backend.dataIdMap.get(t.dataId).id;
}

/** Byte offset of a tensor's data in the wasm heap. */
export function byteOffset(backend: WasmBackend, t: tf.TensorInfo): number {
  return backend.dataIdMap.get(t.dataId).memoryOffset;
}

/** Float32 view of a tensor's data. Re-take it after anything that may allocate (the heap can grow). */
export function heapF32(backend: WasmBackend, t: tf.TensorInfo): Float32Array {
  const size = tf.util.sizeFromShape(t.shape);
  return new Float32Array(backend.wasm.HEAPU8.buffer, byteOffset(backend, t), size);
}

export function heapI32(backend: WasmBackend, t: tf.TensorInfo): Int32Array {
  const size = tf.util.sizeFromShape(t.shape);
  return new Int32Array(backend.wasm.HEAPU8.buffer, byteOffset(backend, t), size);
}

/**
 * A tensor registered with the C++ side over memory owned by another tensor (no copy). Release it
 * with `releaseView`, never with backend.disposeData (which would free the owner's memory).
 */
export function makeView(backend: WasmBackend, shape: number[], memoryOffset: number): tf.TensorInfo {
  return backend.makeOutput(shape, 'float32', memoryOffset);
}

export function releaseView(backend: WasmBackend, view: tf.TensorInfo): void {
  const data = backend.dataIdMap.get(view.dataId);
  // dispose_data also runs C++ disposal callbacks (drops XNNPACK operators cached on this id).
  backend.wasm.tfjs.disposeData(data.id);
  backend.dataIdMap.delete(view.dataId);
}

/** Scratch heap memory for the two rank-3 shape arrays passed to _BatchMatMul (allocated once per module). */
const scratch = new WeakMap<WasmModule, number>();

function shapeScratch(wasm: WasmModule): number {
  let ptr = scratch.get(wasm);
  if (ptr === undefined) {
    ptr = wasm._malloc(32);
    scratch.set(wasm, ptr);
  }
  return ptr;
}

/** Writes the shapes [1, M, K] and [1, K, N] to the scratch area; returns its address (b's shape at + 12). */
function matMulShapes(wasm: WasmModule, m: number, k: number, n: number): number {
  const ptr = shapeScratch(wasm);
  const h = wasm.HEAP32;
  const i = ptr >>> 2;
  h[i] = 1;
  h[i + 1] = m;
  h[i + 2] = k;
  h[i + 3] = 1;
  h[i + 4] = k;
  h[i + 5] = n;
  return ptr;
}

/**
 * out[1, M, N] = a[1, M, K] @ b[1, K, N] through the untransposed batch-1 branch of the C++ kernel,
 * which is the only one that runs XNNPACK. Ids may be views. The operator XNNPACK builds is cached on
 * bId, so weights (stable ids) are packed once.
 */
export function xnnMatMul(backend: WasmBackend, aId: number, bId: number, outId: number, m: number, k: number, n: number): void {
  const wasm = backend.wasm;
  const ptr = matMulShapes(wasm, m, k, n);
  wasm._BatchMatMul(aId, ptr, 3, bId, ptr + 12, 3, 0, 0, outId);
}

/**
 * out[1, M, N] = a[1, M, K] @ b[1, K, N] (+ bias [N], id 0 = none), no activation, by calling the
 * module's exported _FusedMatMul directly: the same C++ call (XNNPACK, operator cached on bId) as the
 * stock kernel, without its emscripten `ccall` (stack allocation and copies of the two shape arrays per
 * call) and the JS around it. Ids may be views.
 */
export function xnnFusedMatMul(backend: WasmBackend, aId: number, bId: number, biasId: number, outId: number, m: number, k: number, n: number): void {
  const wasm = backend.wasm;
  const ptr = matMulShapes(wasm, m, k, n);
  wasm.__FusedMatMul(aId, ptr, 3, bId, ptr + 12, 3, 0, 0, 0 /* linear */, biasId, 0, 0, outId);
}

/**
 * Bytes of the wasm backend's heap (its WebAssembly.Memory; it only grows, so this is the peak so
 * far; the limit is 4 GiB), or null when no wasm backend has started.
 */
export function wasmHeapBytes(): number | null {
  const backend = tf.findBackend('wasm') as Partial<WasmBackend> | null;
  return backend?.wasm?.asm?.memory ? backend.wasm.asm.memory.buffer.byteLength : null;
}
