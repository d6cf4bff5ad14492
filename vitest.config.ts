import { defineConfig } from 'vitest/config';

// One vitest config per project; this root file only lists them so `vitest run` runs all.
export default defineConfig({
  test: {
    projects: ['libs/*/vitest.config.ts', 'apps/*/vitest.config.ts', 'tools/vitest.config.ts'],
    // 2-core machines: one test file at a time per project keeps tfjs-wasm from oversubscribing.
    fileParallelism: false,
  },
});
