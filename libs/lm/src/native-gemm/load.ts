import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The addon's API (libs/lm/native/src/addon.cc). Offsets and sizes are in floats, relative to `heap`. */
export interface NativeGemmAddon {
  /**
   * For each (a, b, c) triple in `offsets`: heap[c..][m, n] = op(heap[a..]) op(heap[b..]) (+ bias [n]
   * at heap[biasOffset..]), in place. A is stored [m, k] ([k, m] if transA), B [k, n] ([n, k] if
   * transB); biasOffset -1: no bias. Every entry is bounds-checked against the heap (RangeError).
   */
  sgemm(heap: Float32Array, offsets: Int32Array, m: number, n: number, k: number, transA: boolean, transB: boolean, threads: 1 | 2, biasOffset: number): void;
  /** True when the CPU has AVX2 and FMA. */
  cpuSupported(): boolean;
}

export type NativeGemmLoad = { ok: true; addon: NativeGemmAddon; path: string } | { ok: false; reason: string };

/** Where `npm install` (libs/lm/native/build.sh) puts the binary; the same relative path from src/ and dist/. */
export const NATIVE_GEMM_BINARY = fileURLToPath(new URL('../../native/build/Release/emrl_native_gemm.node', import.meta.url));

/**
 * Load the native GEMM addon, or say why it cannot run (not built, load error, CPU without
 * AVX2/FMA). The caller then keeps the wasm kernels: the fallback issue #15 asks for.
 */
export function loadNativeGemm(path: string = NATIVE_GEMM_BINARY): NativeGemmLoad {
  if (!existsSync(path)) return { ok: false, reason: `not built (${path} missing; in the emrl repo \`npm install\` or \`npm run build:native\` builds it)` };
  try {
    const addon = createRequire(import.meta.url)(path) as Partial<NativeGemmAddon>;
    if (typeof addon.sgemm !== 'function' || typeof addon.cpuSupported !== 'function') return { ok: false, reason: `${path} is not emrl's native GEMM addon (no sgemm / cpuSupported)` };
    if (!addon.cpuSupported()) return { ok: false, reason: 'CPU lacks AVX2/FMA' };
    return { ok: true, addon: addon as NativeGemmAddon, path };
  } catch (e) {
    return { ok: false, reason: `loading ${path} failed: ${((e as Error).message ?? String(e)).split('\n')[0]}` };
  }
}
