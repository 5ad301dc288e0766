import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { repoRoot } from '../cluster/config.ts';
import { networkPolicyHealthy } from '../cluster/network-policy.ts';
import { configuredNodeCount, nodesStatus } from '../cluster/node.ts';
import { controlPlaneHealthy, kubeconfigPath, runClusterTool } from '../support/cluster.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string;
  }
}

export const NODES = 3;

/**
 * The node suite needs the control plane and three real nodes with the project's images, each
 * enforcing NetworkPolicy. A
 * cluster with three Ready nodes is reused and left running; a cluster with another number of
 * nodes is refused (stopping someone's cluster is not a test's call); otherwise one is started
 * and stopped afterwards.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const running = await controlPlaneHealthy();
  const nodes = running ? await nodesStatus() : [];
  const healthy =
    nodes.length === NODES &&
    nodes.every(
      (n) =>
        n.components.length > 0 &&
        n.components.every((c) => c.healthy) &&
        networkPolicyHealthy({ name: n.node.name, ...(n.node.netns ? { netns: n.node.netns } : {}) }),
    );
  if (running && !healthy && nodes.some((n) => n.components.length))
    throw new Error(
      `a local cluster with ${configuredNodeCount()} node(s) is running; the node suite needs ${NODES}: ` +
        '`npm run cluster -- down` first',
    );
  if (!healthy) await runClusterTool(['up', '--nodes', String(NODES), '--network-policy']);
  const images = spawnSync(process.execPath, [path.join(repoRoot, 'test/cluster/cluster.ts'), 'images'], {
    stdio: 'inherit',
  });
  if (images.status !== 0) throw new Error('building or importing the images failed');
  process.env.KUBECONFIG = kubeconfigPath;
  project.provide('kubeconfig', kubeconfigPath);
  return async () => {
    if (!healthy) await runClusterTool(['down']);
  };
}
