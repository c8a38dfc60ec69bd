import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // A temp dir per run, removed at its end (test/setup/run-tmpdir.ts).
    globalSetup: ['test/setup/run-tmpdir.ts'],
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start real sshd and daemons on loopback; two cores do not like many at once.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
