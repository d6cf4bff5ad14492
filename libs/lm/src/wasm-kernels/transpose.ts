import * as tf from '@tensorflow/tfjs-core';
import { callOriginal } from './original-kernels';
import { asWasmBackend, heapF32, heapI32, type WasmBackend } from './wasm-backend';

/**
 * Drop size-1 axes and merge axes that stay neighbours under `perm`: [B, T, H, D] with perm
 * [0, 2, 1, 3] stays rank 4, but [B, T, 3, H, D] -> [2, 0, 3, 1, 4] style permutations of views
 * often shrink to rank 3 or 4, where the C++ kernel has fast paths.
 */
export function reducePermutation(shape: number[], perm: number[]): { shape: number[]; perm: number[] } {
  const keep = perm.filter((axis) => shape[axis] !== 1);
  // Groups of input axes that appear consecutively (in order) in the output.
  const groups: number[][] = [];
  for (const axis of keep) {
    const last = groups[groups.length - 1];
    if (last && isNextKept(shape, last[last.length - 1]!, axis)) last.push(axis);
    else groups.push([axis]);
  }
  // Order groups by their first input axis to get the reduced input shape.
  const byInput = [...groups].sort((g, h) => g[0]! - h[0]!);
  const reducedShape = byInput.map((g) => g.reduce((p, a) => p * shape[a]!, 1));
  const reducedPerm = groups.map((g) => byInput.indexOf(g));
  return { shape: reducedShape, perm: reducedPerm };
}

/** True if `b` is the next non-unit input axis after `a` (unit axes in between do not break adjacency). */
function isNextKept(shape: number[], a: number, b: number): boolean {
  if (b <= a) return false;
  for (let i = a + 1; i < b; i++) if (shape[i] !== 1) return false;
  return true;
}

/** Generic strided transpose in JS over the heap; inner loop runs over the output's last axis. */
function transposeJs(src: Float32Array | Int32Array, dst: Float32Array | Int32Array, shape: number[], perm: number[]): void {
  const rank = shape.length;
  const inStrides = new Array<number>(rank);
  let s = 1;
  for (let i = rank - 1; i >= 0; i--) {
    inStrides[i] = s;
    s *= shape[i]!;
  }
  const outShape = perm.map((p) => shape[p]!);
  const step = perm.map((p) => inStrides[p]!); // input stride of each output axis
  const inner = outShape[rank - 1]!;
  const innerStep = step[rank - 1]!;
  const outer = dst.length / inner;
  const idx = new Array<number>(rank - 1).fill(0);
  let base = 0;
  let o = 0;
  for (let r = 0; r < outer; r++) {
    let p = base;
    for (let j = 0; j < inner; j++) {
      dst[o++] = src[p]!;
      p += innerStep;
    }
    // Odometer increment over output axes rank-2 .. 0.
    for (let ax = rank - 2; ax >= 0; ax--) {
      idx[ax]!++;
      base += step[ax]!;
      if (idx[ax]! < outShape[ax]!) break;
      base -= step[ax]! * outShape[ax]!;
      idx[ax] = 0;
    }
  }
}

/** Rank from which the C++ kernel falls back to its slow generic loop (measured in tools/bench). */
const MAX_NATIVE_RANK = 4;

/** Transpose on wasm: reduce the permutation first; C++ kernel up to rank 4, JS beyond. */
export function transposeKernel(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = asWasmBackend(args.backend);
  const x = args.inputs['x']!;
  const perm = (args.attrs?.['perm'] as number[] | undefined) ?? x.shape.map((_, i) => x.shape.length - 1 - i);
  return transposeInfo(backend, x, perm);
}

export function transposeInfo(backend: WasmBackend, x: tf.TensorInfo, perm: number[]): tf.TensorInfo {
  const outShape = perm.map((p) => x.shape[p]!);
  const reduced = reducePermutation(x.shape, perm);
  const isNoOp = reduced.perm.every((p, i) => p === i);
  const jsDtype = x.dtype === 'float32' || x.dtype === 'int32';
  if (isNoOp || !jsDtype || reduced.shape.length <= MAX_NATIVE_RANK) {
    const xr = { dataId: x.dataId, shape: isNoOp ? x.shape : reduced.shape, dtype: x.dtype };
    const out = callOriginal('Transpose', { x: xr }, backend, { perm: isNoOp ? x.shape.map((_, i) => i) : reduced.perm });
    return { ...out, shape: outShape };
  }
  const out = backend.makeOutput(outShape, x.dtype);
  if (x.dtype === 'float32') transposeJs(heapF32(backend, x), heapF32(backend, out), reduced.shape, reduced.perm);
  else transposeJs(heapI32(backend, x), heapI32(backend, out), reduced.shape, reduced.perm);
  return out;
}

/** [..., M, K] -> [batch, K, M] as a new tensor (caller disposes). */
export function transposeLastTwo(backend: WasmBackend, x: tf.TensorInfo): tf.TensorInfo {
  const r = x.shape.length;
  const batch = tf.util.sizeFromShape(x.shape.slice(0, -2));
  const m = x.shape[r - 2]!;
  const k = x.shape[r - 1]!;
  return transposeInfo(backend, { dataId: x.dataId, shape: [batch, m, k], dtype: x.dtype }, [0, 2, 1]);
}
