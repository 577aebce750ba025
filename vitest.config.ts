import { defineConfig } from 'vitest/config';

// Two projects: `unit` (pure logic, the simulator, e2e on the built CLI) needs only Node;
// `integration` needs the Debian packages (qemu, a kernel, busybox-static, chromium) and the real
// services that .ci/run installs and starts, and fails without them.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 600_000,
          // One file at a time (they share the real services): `npm run test:integration` passes
          // --no-file-parallelism, as vitest 3 has no per-project fileParallelism.
        },
      },
    ],
  },
});
