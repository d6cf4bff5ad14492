import * as tf from '@tensorflow/tfjs-core';
import { callOriginal } from './original-kernels';
import { asWasmBackend, heapF32, type WasmBackend } from './wasm-backend';

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

function scalar(backend: WasmBackend, value: number): tf.TensorInfo {
  const s = backend.makeOutput([], 'float32');
  heapF32(backend, s)[0] = value;
  return s;
}

/** Binary op through the stock (XNNPACK, SIMD) kernel; disposes the inputs listed in `free`. */
function binary(backend: WasmBackend, kernel: 'Multiply' | 'Add', a: tf.TensorInfo, b: tf.TensorInfo, free: tf.TensorInfo[] = []): tf.TensorInfo {
  const out = callOriginal(kernel, { a, b }, backend);
  for (const t of free) backend.disposeData(t.dataId);
  return out;
}

/**
 * Tanh on wasm as 2 * sigmoid(2x) - 1 with the XNNPACK sigmoid and binary ops: the stock Tanh calls
 * scalar tanhf per element (~10x slower). GPT-2's GELU (tanh approximation) runs it on [N, 4D].
 * Absolute error ~1e-7.
 */
export function tanhKernel(args: KernelArgs): tf.TensorInfo {
  const backend = asWasmBackend(args.backend);
  const x = args.inputs['x']!;
  if (x.dtype !== 'float32') return callOriginal('Tanh', args.inputs, backend, args.attrs);
  const two = scalar(backend, 2);
  const minusOne = scalar(backend, -1);
  try {
    const x2 = binary(backend, 'Multiply', x, two);
    const s = callOriginal('Sigmoid', { x: x2 }, backend);
    backend.disposeData(x2.dataId);
    const s2 = binary(backend, 'Multiply', s, two, [s]);
    return binary(backend, 'Add', s2, minusOne, [s2]);
  } finally {
    backend.disposeData(two.dataId);
    backend.disposeData(minusOne.dataId);
  }
}

/** Largest integer exponent computed by repeated multiplication. */
const MAX_INT_EXPONENT = 4;

/**
 * Pow on wasm: a scalar integer exponent 0..4 (GELU's x^3 and its gradient's x^2) by XNNPACK
 * multiplications; anything else goes to the stock kernel (scalar powf per element, ~40x slower).
 */
export function powKernel(args: KernelArgs): tf.TensorInfo {
  const backend = asWasmBackend(args.backend);
  const a = args.inputs['a']!;
  const b = args.inputs['b']!;
  const e = a.dtype === 'float32' && b.dtype === 'float32' && tf.util.sizeFromShape(b.shape) === 1 ? heapF32(backend, b)[0]! : NaN;
  // b of size 1 with more axes than a would add leading unit axes: leave that to the stock kernel.
  if (!Number.isInteger(e) || e < 0 || e > MAX_INT_EXPONENT || b.shape.length > a.shape.length) {
    return callOriginal('Pow', args.inputs, backend, args.attrs);
  }
  if (e === 0) {
    const out = backend.makeOutput([...a.shape], 'float32');
    heapF32(backend, out).fill(1);
    return out;
  }
  if (e === 1) return callOriginal('Identity', { x: a }, backend);
  const sq = binary(backend, 'Multiply', a, a);
  if (e === 2) return sq;
  return e === 3 ? binary(backend, 'Multiply', sq, a, [sq]) : binary(backend, 'Multiply', sq, sq, [sq]);
}

/**
 * Identity on wasm without a copy: the output shares the input's data (reference-counted, as the
 * stock Reshape does). tfjs kernels never write into their inputs, so sharing is safe; the stock
 * kernel copied every tensor the gradient tape passes through unchanged (~4% of a training step).
 */
export function identityKernel(args: KernelArgs): tf.TensorInfo {
  const backend = asWasmBackend(args.backend);
  const x = args.inputs['x']!;
  if (x.dtype === 'string') return callOriginal('Identity', args.inputs, backend, args.attrs);
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}
