import { defineConfig } from 'vitest/config';

/** `npm run bench`: measurements, not assertions; one file at a time so figures are not disturbed. */
export default defineConfig({
  test: {
    // A temp dir per run, removed at its end (test/setup/run-tmpdir.ts).
    globalSetup: ['test/setup/run-tmpdir.ts'],
    include: ['bench/**/*.bench-run.ts'],
    testTimeout: 600_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    maxWorkers: 1,
  },
});
