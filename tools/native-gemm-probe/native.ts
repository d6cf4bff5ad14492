import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The addon's API (src/addon.cc). Offsets and sizes are in floats, relative to `heap`. */
export interface NativeGemm {
  /**
   * For each (a, b, c) triple in `offsets`: heap[c..][m, n] = op(heap[a..]) op(heap[b..]) (+ bias),
   * in place. A is stored [m, k] ([k, m] if transA), B [k, n] ([n, k] if transB). biasOffset -1: no bias.
   */
  sgemm(heap: Float32Array, offsets: Int32Array, m: number, n: number, k: number, transA: boolean, transB: boolean, threads: 1 | 2, biasOffset: number): void;
  cpuSupported(): boolean;
}

export type NativeLoad = { ok: true; gemm: NativeGemm; path: string } | { ok: false; reason: string };

const ADDON = fileURLToPath(new URL('./build/Release/native_gemm_probe.node', import.meta.url));

/**
 * Load the addon, or say why not (not built, load error, CPU without AVX2/FMA): the caller then keeps
 * the wasm kernels. This is the fallback the issue asks for.
 */
export function loadNativeGemm(path: string = ADDON): NativeLoad {
  if (!existsSync(path)) return { ok: false, reason: `${path} not built (bash tools/native-gemm-probe/build.sh)` };
  try {
    const gemm = createRequire(import.meta.url)(path) as NativeGemm;
    if (typeof gemm.sgemm !== 'function' || typeof gemm.cpuSupported !== 'function') return { ok: false, reason: `${path} is not the native-gemm-probe addon` };
    if (!gemm.cpuSupported()) return { ok: false, reason: 'CPU lacks AVX2/FMA' };
    return { ok: true, gemm, path };
  } catch (e) {
    return { ok: false, reason: `loading ${path} failed: ${(e as Error).message}` };
  }
}

/** The addon or an error naming the build command (for the probe's scripts, which need it). */
export function requireNativeGemm(): NativeGemm {
  const load = loadNativeGemm();
  if (!load.ok) throw new Error(`tools/native-gemm-probe: native GEMM unavailable: ${load.reason}`);
  return load.gemm;
}
