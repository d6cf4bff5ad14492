/**
 * Kernel overrides for tfjs-backend-wasm (see docs/PERFORMANCE.md). Registered once by initBackend.
 * Returns the names of the kernels it replaced or added.
 */
export function registerWasmKernelFixes(): string[] {
  return [];
}
