import * as tf from '@tensorflow/tfjs-core';
import { callOriginal } from './original-kernels';
import { asWasmBackend, byteOffset, heapI32 } from './wasm-backend';

/**
 * GatherV2 (embedding lookups) on wasm with batchDims 0: whole slices are copied heap-to-heap
 * (copyWithin) instead of element by element in the stock C++ loop.
 *   x [...outer, dim, ...inner], indices [...I] int32 -> [...outer, ...I, ...inner]
 */
export function gatherV2Kernel(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = asWasmBackend(args.backend);
  const x = args.inputs['x']!;
  const indices = args.inputs['indices']!;
  const batchDims = Number(args.attrs?.['batchDims'] ?? 0);
  if (batchDims !== 0 || indices.dtype !== 'int32' || x.dtype === 'string' || x.dtype === 'complex64') {
    return callOriginal('GatherV2', args.inputs, backend, args.attrs);
  }
  const axis = tf.util.parseAxisParam(args.attrs?.['axis'] as number, x.shape)[0]!;
  const outerShape = x.shape.slice(0, axis);
  const innerShape = x.shape.slice(axis + 1);
  const dim = x.shape[axis]!;
  const outer = tf.util.sizeFromShape(outerShape);
  const slice = tf.util.sizeFromShape(innerShape);
  const out = backend.makeOutput([...outerShape, ...indices.shape, ...innerShape], x.dtype);
  const idx = heapI32(backend, indices); // after makeOutput: allocation may grow the heap
  const n = idx.length;
  for (let i = 0; i < n; i++) {
    const v = idx[i]!;
    if (v < 0 || v >= dim) {
      backend.disposeData(out.dataId);
      throw new Error(`GatherV2: the index value ${v} is not in [0, ${dim - 1}]`);
    }
  }
  const bpe = x.dtype === 'bool' ? 1 : 4;
  const heap = backend.wasm.HEAPU8;
  const src0 = byteOffset(backend, x);
  let dst = byteOffset(backend, out);
  const sliceBytes = slice * bpe;
  for (let o = 0; o < outer; o++) {
    const srcOuter = src0 + o * dim * sliceBytes;
    for (let i = 0; i < n; i++) {
      const src = srcOuter + idx[i]! * sliceBytes;
      heap.copyWithin(dst, src, src + sliceBytes);
      dst += sliceBytes;
    }
  }
  return out;
}
