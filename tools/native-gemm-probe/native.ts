import { loadNativeGemm as loadLibAddon, NATIVE_GEMM_BINARY, type NativeGemmAddon } from '@emrl/lm';

/**
 * The probe uses emrl's native GEMM addon (libs/lm/native, built by `npm install`) but swaps it in
 * itself (native-matmul.ts) to compare it with emrl's wasm kernels, so the lib's own registration is
 * turned off for the probe's processes (set before any initBackend runs).
 */
process.env['EMRL_NATIVE_GEMM'] = '0';

export type NativeGemm = NativeGemmAddon;

export type NativeLoad = { ok: true; gemm: NativeGemm; path: string } | { ok: false; reason: string };

/** The addon, or why not (not built, load error, CPU): the fallback to the wasm kernels. */
export function loadNativeGemm(path: string = NATIVE_GEMM_BINARY): NativeLoad {
  const load = loadLibAddon(path);
  return load.ok ? { ok: true, gemm: load.addon, path: load.path } : load;
}

/** The addon or an error naming the build command (for the probe's scripts, which need it). */
export function requireNativeGemm(): NativeGemm {
  const load = loadNativeGemm();
  if (!load.ok) throw new Error(`tools/native-gemm-probe: native GEMM unavailable: ${load.reason}`);
  return load.gemm;
}
