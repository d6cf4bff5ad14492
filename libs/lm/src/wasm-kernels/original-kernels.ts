import * as tf from '@tensorflow/tfjs-core';

/** The wasm kernels as tfjs-backend-wasm registered them, saved before a fix replaces them. */
const originals = new Map<string, tf.KernelConfig>();

export function saveOriginal(kernelName: string): tf.KernelConfig | undefined {
  const existing = originals.get(kernelName);
  if (existing) return existing;
  const config = tf.getKernel(kernelName, 'wasm');
  if (config) originals.set(kernelName, config);
  return config;
}

export function originalKernel(kernelName: string): tf.KernelConfig | undefined {
  return originals.get(kernelName);
}

export function hasOriginal(kernelName: string): boolean {
  return originals.has(kernelName);
}

/** Run the untouched wasm kernel from inside a fix (e.g. the C++ Transpose on a reduced rank). */
export function callOriginal(
  kernelName: string,
  inputs: tf.NamedTensorInfoMap,
  backend: unknown,
  attrs: tf.NamedAttrMap = {},
): tf.TensorInfo {
  // Kernels without a fix are looked up live; fixed ones must come from the saved originals.
  const config = originals.get(kernelName) ?? tf.getKernel(kernelName, 'wasm');
  if (!config) throw new Error(`libs/lm/src/wasm-kernels: no wasm kernel "${kernelName}" is registered`);
  const out = config.kernelFunc({ inputs, backend: backend as tf.KernelBackend, attrs });
  if (Array.isArray(out)) throw new Error(`libs/lm/src/wasm-kernels: kernel "${kernelName}" returned several outputs`);
  return out;
}
