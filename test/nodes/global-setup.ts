import type { TestProject } from 'vitest/node';
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
      (n) => n.components.length > 0 && n.components.every((c) => c.healthy) && networkPolicyHealthy(n.node),
    );
  if (running && !healthy && nodes.some((n) => n.components.length))
    throw new Error(
      `a local cluster with ${configuredNodeCount()} node(s) is running; the node suite needs ${NODES}: ` +
        '`npm run cluster -- down` first',
    );
  if (!healthy) await runClusterTool(['up', '--nodes', String(NODES), '--network-policy']);
  await runClusterTool(['images']);
  process.env.KUBECONFIG = kubeconfigPath;
  project.provide('kubeconfig', kubeconfigPath);
  return async () => {
    if (!healthy) await runClusterTool(['down']);
  };
}
