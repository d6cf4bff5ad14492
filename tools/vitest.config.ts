import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    name: 'tools',
    root: __dirname,
    include: ['**/*.test.ts'],
    environment: 'node',
    testTimeout: 300_000,
    pool: 'forks',
  },
});
