import * as tf from '@tensorflow/tfjs-core';
import { callOriginal } from './original-kernels';
import { asWasmBackend, heapF32 } from './wasm-backend';

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

/**
 * Tanh on wasm as 2 * sigmoid(2x) - 1: the stock Tanh calls scalar tanhf per element (~15x slower
 * than the XNNPACK sigmoid it reuses). GPT-2's GELU (tanh approximation) runs it on [N, 4D].
 * Absolute error ~1e-7.
 */
export function tanhKernel(args: KernelArgs): tf.TensorInfo {
  const backend = asWasmBackend(args.backend);
  const x = args.inputs['x']!;
  if (x.dtype !== 'float32') return callOriginal('Tanh', args.inputs, backend, args.attrs);
  const twice = backend.makeOutput(x.shape, 'float32');
  const src = heapF32(backend, x);
  const t = heapF32(backend, twice);
  for (let i = 0; i < t.length; i++) t[i] = 2 * src[i]!;
  const out = callOriginal('Sigmoid', { x: twice }, backend);
  backend.disposeData(twice.dataId);
  const o = heapF32(backend, out);
  for (let i = 0; i < o.length; i++) o[i] = 2 * o[i]! - 1;
  return out;
}

/** Largest integer exponent computed by repeated multiplication. */
const MAX_INT_EXPONENT = 4;

/**
 * Pow on wasm: a scalar integer exponent 0..4 (GELU's x^3 and its gradient's x^2) by
 * multiplication; anything else goes to the stock kernel (scalar powf per element).
 */
export function powKernel(args: KernelArgs): tf.TensorInfo {
  const backend = asWasmBackend(args.backend);
  const a = args.inputs['a']!;
  const b = args.inputs['b']!;
  const e = a.dtype === 'float32' && b.dtype === 'float32' && tf.util.sizeFromShape(b.shape) === 1 ? heapF32(backend, b)[0]! : NaN;
  // Output shape: b broadcast against a (b of size 1 may still add leading unit axes).
  if (!Number.isInteger(e) || e < 0 || e > MAX_INT_EXPONENT || b.shape.length > a.shape.length) {
    return callOriginal('Pow', args.inputs, backend, args.attrs);
  }
  const out = backend.makeOutput([...a.shape], 'float32');
  const x = heapF32(backend, a);
  const o = heapF32(backend, out);
  const n = o.length;
  if (e === 0) o.fill(1);
  else if (e === 1) o.set(x);
  else if (e === 2) for (let i = 0; i < n; i++) o[i] = x[i]! * x[i]!;
  else if (e === 3) for (let i = 0; i < n; i++) o[i] = x[i]! * x[i]! * x[i]!;
  else
    for (let i = 0; i < n; i++) {
      const s = x[i]! * x[i]!;
      o[i] = s * s;
    }
  return out;
}
