import { defineConfig } from 'vitest/config';

// Four projects: unit (pure logic, no cluster), integration (a real control plane started
// once by the global setup), e2e (a real node; see test/e2e/README.md), nodes (three real nodes:
// node loss, node partition, drain; docs/local-cluster.md).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/chart/dashboard/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/process/**/*.test.ts', 'test/chart/**/*.test.ts'],
          // Dashboard queries need a running pair on a real node: they run with the e2e project.
          exclude: ['test/chart/dashboard-queries.test.ts', 'test/chart/dashboard/**'],
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // The control plane is shared; files get their own namespaces but run one at a time
          // so timing-sensitive failover assertions are not starved on a 2-core machine.
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/e2e/global-setup.ts'],
          testTimeout: 300_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'nodes',
          include: ['test/nodes/**/*.test.ts'],
          globalSetup: ['test/nodes/global-setup.ts'],
          testTimeout: 300_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
