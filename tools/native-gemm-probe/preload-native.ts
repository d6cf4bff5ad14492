/**
 * Preload for trying the native GEMM under a whole emrl run without touching libs/: starts the wasm
 * backend (emrl's kernel fixes), then swaps the native GEMM in for BatchMatMul / _FusedMatMul. The
 * run's own initBackend then returns this backend. Only the main thread; worker threads keep wasm.
 *
 *   bash tools/native-gemm-probe/build.sh
 *   npx tsx --import ./tools/native-gemm-probe/preload-native.ts apps/pipeline/src/main.ts run --preset em-warmstart --out /tmp/native-run
 */
import { initBackend } from '@emrl/lm';
import { requireNativeGemm } from './native';
import { registerNativeMatMul } from './native-matmul';

await initBackend({ prefer: 'wasm' });
registerNativeMatMul(requireNativeGemm(), 1);
console.error('tools/native-gemm-probe: native GEMM registered for BatchMatMul and _FusedMatMul (main thread)');
