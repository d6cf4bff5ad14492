import { defineConfig } from 'vitest/config';
import { defaultServerConditions } from 'vite';

export default defineConfig({
  // Tests run the TypeScript sources: the libs' "@emrl/source" export condition (src/, not dist/).
  ssr: { resolve: { conditions: ['@emrl/source', ...defaultServerConditions] } },
  test: {
    name: 'lm',
    root: __dirname,
    include: ['src/**/*.test.ts'],
    environment: 'node',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
