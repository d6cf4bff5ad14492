import { defineConfig } from 'vitest/config';
import { defaultServerConditions } from 'vite';

export default defineConfig({
  // Tests run the TypeScript sources: the libs' "@emrl/source" export condition (src/, not dist/).
  ssr: { resolve: { conditions: ['@emrl/source', ...defaultServerConditions] } },
  test: {
    name: 'tools',
    root: __dirname,
    include: ['**/*.test.ts'],
    environment: 'node',
    testTimeout: 300_000,
    pool: 'forks',
  },
});
