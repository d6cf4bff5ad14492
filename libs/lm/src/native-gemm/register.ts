import * as tf from '@tensorflow/tfjs-core';
import { nativeBatchMatMulKernel, nativeFusedMatMulKernel } from './kernels';
import { loadNativeGemm, NATIVE_GEMM_BINARY } from './load';
import { nativeGemmOptions } from './options';

/** Whether the native GEMM ran for BatchMatMul / _FusedMatMul (BackendInfo.nativeGemm, every run record). */
export interface NativeGemmStatus {
  used: boolean;
  /** Why it is not used (not built, CPU, EMRL_NATIVE_GEMM=0, not the wasm backend). */
  reason?: string;
  /** Threads per product (EMRL_NATIVE_GEMM_THREADS, default 1). */
  threads: 1 | 2;
}

const KERNELS = ['BatchMatMul', '_FusedMatMul'] as const;

/** The kernels the overrides replaced (emrl's wasm fixes), to put back. */
let replaced: tf.KernelConfig[] = [];
let status: NativeGemmStatus = { used: false, reason: 'the wasm backend has not started', threads: 1 };

/**
 * Swap the native GEMM in for BatchMatMul and _FusedMatMul on the wasm backend when the addon loads,
 * the CPU has AVX2/FMA and EMRL_NATIVE_GEMM is not 0; the kernels registered before (emrl's wasm
 * fixes) keep the products the addon does not take. Called by registerWasmKernelFixes; idempotent.
 */
export function registerNativeGemm(binary: string = NATIVE_GEMM_BINARY): NativeGemmStatus {
  if (replaced.length > 0) return status;
  const { enabled, threads } = nativeGemmOptions();
  if (!enabled) return (status = { used: false, reason: 'EMRL_NATIVE_GEMM=0', threads });
  const previous = KERNELS.map((name) => tf.getKernel(name, 'wasm'));
  if (previous.some((p) => p === undefined)) return (status = { used: false, reason: 'no wasm BatchMatMul / _FusedMatMul kernel to replace', threads });
  const load = loadNativeGemm(binary);
  if (!load.ok) return (status = { used: false, reason: load.reason, threads });
  const [batch, fused] = previous as [tf.KernelConfig, tf.KernelConfig];
  for (const config of previous as tf.KernelConfig[]) tf.unregisterKernel(config.kernelName, 'wasm');
  tf.registerKernel({ kernelName: 'BatchMatMul', backendName: 'wasm', kernelFunc: nativeBatchMatMulKernel(load.addon, threads, batch.kernelFunc) });
  tf.registerKernel({ kernelName: '_FusedMatMul', backendName: 'wasm', kernelFunc: nativeFusedMatMulKernel(load.addon, threads, fused.kernelFunc) });
  replaced = [batch, fused];
  return (status = { used: true, threads });
}

/** Put back the kernels registerNativeGemm replaced (called by unregisterWasmKernelFixes first). */
export function unregisterNativeGemm(): void {
  for (const config of replaced) {
    tf.unregisterKernel(config.kernelName, 'wasm');
    tf.registerKernel(config);
  }
  if (replaced.length > 0) status = { used: false, reason: 'unregistered', threads: status.threads };
  replaced = [];
}

/** The native GEMM's state on the wasm backend: registered or why not. */
export function nativeGemmStatus(): NativeGemmStatus {
  return { ...status };
}

/**
 * Run `fn` on emrl's wasm kernels without the native GEMM (tests compare the two), then register it
 * again if it was on. `fn` must be synchronous.
 */
export function withoutNativeGemm<T>(fn: () => T): T {
  const wasOn = replaced.length > 0;
  unregisterNativeGemm();
  try {
    return fn();
  } finally {
    if (wasOn) registerNativeGemm();
  }
}
