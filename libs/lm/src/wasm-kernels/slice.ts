import * as tf from '@tensorflow/tfjs-core';
import { callOriginal } from './original-kernels';
import { asWasmBackend, byteOffset, type WasmBackend } from './wasm-backend';

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

/**
 * Slice and SplitV on wasm. The stock Slice copies the whole input out of the wasm heap
 * (readSync) for every slice, so splitting the fused qkv projection [N, 3D] copied it three times.
 * Here rows are copied heap-to-heap with copyWithin; trailing full axes merge into one row.
 */
export function sliceKernel(args: KernelArgs): tf.TensorInfo {
  const backend = asWasmBackend(args.backend);
  const x = args.inputs['x']!;
  if (x.dtype === 'string') return callOriginal('Slice', args.inputs, backend, args.attrs);
  const [begin, size] = tf.slice_util.parseSliceParams(x as tf.TensorInfo & tf.Tensor, args.attrs?.['begin'] as number[], args.attrs?.['size'] as number[]);
  return sliceInfo(backend, x, begin, size);
}

export function splitVKernel(args: KernelArgs): tf.TensorInfo[] {
  const backend = asWasmBackend(args.backend);
  const x = args.inputs['x']!;
  const axis = tf.util.parseAxisParam(args.attrs?.['axis'] as number, x.shape)[0]!;
  const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, args.attrs?.['numOrSizeSplits'] as number[] | number, axis);
  const begin = new Array<number>(x.shape.length).fill(0);
  return sizes.map((s) => {
    const size = [...x.shape];
    size[axis] = s;
    const out = x.dtype === 'string' ? callOriginal('Slice', { x }, backend, { begin: [...begin], size }) : sliceInfo(backend, x, [...begin], size);
    begin[axis]! += s;
    return out;
  });
}

function bytesPer(dtype: tf.DataType): number {
  return dtype === 'bool' ? 1 : 4;
}

export function sliceInfo(backend: WasmBackend, x: tf.TensorInfo, begin: number[], size: number[]): tf.TensorInfo {
  const out = backend.makeOutput(size, x.dtype);
  const total = tf.util.sizeFromShape(size);
  if (total === 0) return out;
  const bpe = bytesPer(x.dtype);
  const shape = x.shape;
  const rank = shape.length;
  // Merge trailing axes that are taken whole into the copied row.
  let last = rank - 1;
  let row = size[last] ?? 1;
  while (last > 0 && size[last] === shape[last]) {
    last--;
    row *= size[last]!;
  }
  // Axes 0..last-1 are iterated; axis `last` contributes begin[last] * stride and the row length.
  const strides = new Array<number>(rank);
  let s = 1;
  for (let i = rank - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  const heap = backend.wasm.HEAPU8; // taken after makeOutput (allocation may grow the heap)
  const src0 = byteOffset(backend, x);
  let dst = byteOffset(backend, out);
  const rowBytes = row * bpe;
  if (rank === 0) {
    heap.copyWithin(dst, src0, src0 + bpe);
    return out;
  }
  let base = 0;
  for (let i = 0; i < rank; i++) base += begin[i]! * strides[i]!;
  const idx = new Array<number>(Math.max(last, 0)).fill(0);
  const rows = total / row;
  let off = base;
  for (let r = 0; r < rows; r++) {
    const src = src0 + off * bpe;
    heap.copyWithin(dst, src, src + rowBytes);
    dst += rowBytes;
    for (let ax = last - 1; ax >= 0; ax--) {
      idx[ax]!++;
      off += strides[ax]!;
      if (idx[ax]! < size[ax]!) break;
      off -= strides[ax]! * size[ax]!;
      idx[ax] = 0;
    }
  }
  return out;
}
