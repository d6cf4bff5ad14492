import * as tf from '@tensorflow/tfjs-core';
import { registerNativeGemm, unregisterNativeGemm } from '../native-gemm/register';
import { batchMatMulKernel } from './batch-mat-mul';
import { identityKernel, powKernel, tanhKernel } from './elementwise';
import { fusedMatMulKernel } from './fused-mat-mul';
import { gatherV2Kernel } from './gather';
import { guardWasmBackendMalloc } from './malloc-guard';
import { hasOriginal, originalKernel, saveOriginal } from './original-kernels';
import { sliceKernel, splitVKernel } from './slice';
import { transposeKernel } from './transpose';
import { unsortedSegmentSumKernel } from './unsorted-segment-sum';

/**
 * Kernel overrides for tfjs-backend-wasm 4.22 (see docs/PERFORMANCE.md for what each buys):
 * - BatchMatMul: transposed and batched products through XNNPACK instead of a scalar loop;
 * - _FusedMatMul: same for tf.fused.matMul;
 * - Transpose: axis merging first, JS above rank 4 (the C++ generic path is slow);
 * - UnsortedSegmentSum: missing on wasm (gradient of embedding lookups);
 * - Slice / SplitV: heap-to-heap row copies (stock copies the whole input out of the heap per slice);
 * - GatherV2: slice copies instead of an element loop;
 * - Tanh: 2 * sigmoid(2x) - 1 on the XNNPACK sigmoid; Pow: small integer exponents by multiplication;
 * - Identity: shares the input's data instead of copying.
 */
const FIXES: { kernelName: string; kernelFunc: tf.KernelFunc }[] = [
  { kernelName: 'BatchMatMul', kernelFunc: batchMatMulKernel as unknown as tf.KernelFunc },
  { kernelName: '_FusedMatMul', kernelFunc: fusedMatMulKernel as unknown as tf.KernelFunc },
  { kernelName: 'Transpose', kernelFunc: transposeKernel as unknown as tf.KernelFunc },
  { kernelName: 'UnsortedSegmentSum', kernelFunc: unsortedSegmentSumKernel as unknown as tf.KernelFunc },
  { kernelName: 'Slice', kernelFunc: sliceKernel as unknown as tf.KernelFunc },
  { kernelName: 'SplitV', kernelFunc: splitVKernel as unknown as tf.KernelFunc },
  { kernelName: 'GatherV2', kernelFunc: gatherV2Kernel as unknown as tf.KernelFunc },
  { kernelName: 'Tanh', kernelFunc: tanhKernel as unknown as tf.KernelFunc },
  { kernelName: 'Pow', kernelFunc: powKernel as unknown as tf.KernelFunc },
  { kernelName: 'Identity', kernelFunc: identityKernel as unknown as tf.KernelFunc },
];

let registered: string[] = [];

/** Names of the fixes, whether registered or not. */
export const WASM_KERNEL_FIX_NAMES: readonly string[] = FIXES.map((f) => f.kernelName);

export { wasmHeapBytes } from './wasm-backend';
export { WasmHeapExhaustedError } from './malloc-guard';

/**
 * Register the fixes on the 'wasm' backend (idempotent). Call after the wasm backend has started
 * (initBackend does). Returns the names of the kernels it replaced or added. Also registers the
 * native GEMM when it can run (native-gemm/register.ts; its state: nativeGemmStatus()).
 */
export function registerWasmKernelFixes(): string[] {
  if (registered.length > 0) return [...registered];
  // The fixes call the stock Transpose / _FusedMatMul; without a wasm backend there is nothing to fix.
  if (!tf.getKernel('BatchMatMul', 'wasm')) return [];
  guardWasmBackendMalloc();
  for (const fix of FIXES) {
    const original = saveOriginal(fix.kernelName);
    if (original) tf.unregisterKernel(fix.kernelName, 'wasm');
    tf.registerKernel({ kernelName: fix.kernelName, backendName: 'wasm', kernelFunc: fix.kernelFunc });
    registered.push(fix.kernelName);
  }
  // Hook: the optional native GEMM (native-gemm/) takes over large BatchMatMul / _FusedMatMul products.
  registerNativeGemm();
  return [...registered];
}

/** Put the stock wasm kernels back (UnsortedSegmentSum, absent from stock wasm, is removed). */
export function unregisterWasmKernelFixes(): void {
  unregisterNativeGemm(); // it wraps the fixes: off first
  for (const name of registered) {
    tf.unregisterKernel(name, 'wasm');
    const original = originalKernel(name);
    if (original) tf.registerKernel(original);
  }
  registered = [];
}

export function wasmKernelFixesRegistered(): string[] {
  return [...registered];
}

/**
 * Run `fn` with the stock wasm kernels (for tests and the benchmark), then restore the fixes if they
 * were registered. `fn` must be synchronous.
 */
export function withUntouchedKernels<T>(fn: () => T): T {
  const wasOn = registered.length > 0;
  if (wasOn) unregisterWasmKernelFixes();
  try {
    return fn();
  } finally {
    if (wasOn) registerWasmKernelFixes();
  }
}

/** True if the stock wasm backend has a kernel of this name (UnsortedSegmentSum does not). */
export function hasStockWasmKernel(kernelName: string): boolean {
  return hasOriginal(kernelName) || (registered.length === 0 && tf.getKernel(kernelName, 'wasm') !== undefined);
}
