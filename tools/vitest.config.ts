import { defineConfig } from 'vitest/config';
import { sourceConditions } from '../vitest.shared';

export default defineConfig({
  ...sourceConditions,
  test: {
    name: 'tools',
    root: __dirname,
    include: ['**/*.test.ts'],
    environment: 'node',
    testTimeout: 300_000,
    pool: 'forks',
  },
});
