import * as tf from '@tensorflow/tfjs-core';
import { asWasmBackend, heapF32, heapI32 } from './wasm-backend';

/**
 * UnsortedSegmentSum, missing from tfjs-backend-wasm 4.22. It is the gradient of GatherV2, so every
 * embedding lookup needs it in training. out[s, ...] = sum of x[i, ...] over i with segmentIds[i] = s;
 * ids outside [0, numSegments) are dropped (TensorFlow semantics).
 *   x [N, ...inner] (or [...idsShape, ...inner]), segmentIds [...idsShape] int32 -> [numSegments, ...inner]
 */
export function unsortedSegmentSumKernel(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = asWasmBackend(args.backend);
  const x = args.inputs['x']!;
  const ids = args.inputs['segmentIds']!;
  const numSegments = Number(args.attrs?.['numSegments']);
  if (!Number.isInteger(numSegments) || numSegments < 0) {
    throw new Error(`libs/lm/src/wasm-kernels UnsortedSegmentSum: numSegments must be a non-negative integer, got ${args.attrs?.['numSegments']}`);
  }
  if (ids.dtype !== 'int32') throw new Error(`libs/lm/src/wasm-kernels UnsortedSegmentSum: segmentIds must be int32, got ${ids.dtype}`);
  if (x.dtype !== 'float32' && x.dtype !== 'int32') {
    throw new Error(`libs/lm/src/wasm-kernels UnsortedSegmentSum: x must be float32 or int32, got ${x.dtype}`);
  }
  const idsRank = ids.shape.length;
  for (let i = 0; i < idsRank; i++) {
    if (x.shape[i] !== ids.shape[i]) {
      throw new Error(`libs/lm/src/wasm-kernels UnsortedSegmentSum: segmentIds shape [${ids.shape}] must be a prefix of x shape [${x.shape}]`);
    }
  }
  const innerShape = x.shape.slice(idsRank);
  const inner = tf.util.sizeFromShape(innerShape);
  const out = backend.makeOutput([numSegments, ...innerShape], x.dtype);
  // Views taken after makeOutput: allocation may grow (and detach) the heap.
  const dst = x.dtype === 'float32' ? heapF32(backend, out) : heapI32(backend, out);
  const src = x.dtype === 'float32' ? heapF32(backend, x) : heapI32(backend, x);
  const segs = heapI32(backend, ids);
  dst.fill(0);
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]!;
    if (s < 0 || s >= numSegments) continue;
    const o = s * inner;
    const p = i * inner;
    for (let j = 0; j < inner; j++) dst[o + j] = dst[o + j]! + src[p + j]!;
  }
  return out;
}
