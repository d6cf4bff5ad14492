export { loadNativeGemm, NATIVE_GEMM_BINARY, type NativeGemmAddon, type NativeGemmLoad } from './load';
export { nativeGemmOptions, type NativeGemmOptions } from './options';
export { nativeGemmRouting, nativeGemmStats } from './kernels';
export { nativeGemmStatus, registerNativeGemm, unregisterNativeGemm, withoutNativeGemm, type NativeGemmStatus } from './register';
