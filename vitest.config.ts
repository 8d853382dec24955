import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Network tests listen on 127.0.0.1:0; two workers match the two cores CI has.
    maxWorkers: 2,
  },
});
