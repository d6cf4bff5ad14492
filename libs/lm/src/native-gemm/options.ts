/** The native GEMM's switches, read from the environment once per initBackend. */
export interface NativeGemmOptions {
  /** False when EMRL_NATIVE_GEMM=0: the wasm kernels stay. */
  enabled: boolean;
  /** EMRL_NATIVE_GEMM_THREADS (default 1: deterministic, and the data-parallel workers use the other core). */
  threads: 1 | 2;
}

/** Parse EMRL_NATIVE_GEMM (`0` turns it off; unset or `1` leaves it on) and EMRL_NATIVE_GEMM_THREADS (1 or 2). */
export function nativeGemmOptions(env: Record<string, string | undefined> = process.env): NativeGemmOptions {
  const on = env['EMRL_NATIVE_GEMM'];
  if (on !== undefined && on !== '' && on !== '0' && on !== '1') {
    throw new Error(`environment EMRL_NATIVE_GEMM="${on}": expected 0 (off) or 1 (on, the default); unset it or set 0 or 1`);
  }
  const t = env['EMRL_NATIVE_GEMM_THREADS'];
  if (t !== undefined && t !== '' && t !== '1' && t !== '2') {
    throw new Error(`environment EMRL_NATIVE_GEMM_THREADS="${t}": expected 1 (the default) or 2; unset it or set 1 or 2`);
  }
  return { enabled: on !== '0', threads: t === '2' ? 2 : 1 };
}
