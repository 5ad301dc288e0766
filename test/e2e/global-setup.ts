import type { TestProject } from 'vitest/node';
import { nodeName } from '../cluster/config.ts';
import { networkPolicyHealthy } from '../cluster/network-policy.ts';
import { nodeStatus } from '../cluster/node.ts';
import { controlPlaneHealthy, kubeconfigPath, runClusterTool } from '../support/cluster.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string;
  }
}

/**
 * End-to-end tests need the control plane and a real node with the project's images, and
 * NetworkPolicy enforced on that node (the pairs' policies must hold where the tests run). A
 * cluster with a Ready node and a running NetworkPolicy engine is reused and left running;
 * otherwise one is started (or completed: `up` keeps what already runs) and stopped afterwards.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const nodeRows = await nodeStatus().catch(() => []);
  const reuse =
    (await controlPlaneHealthy()) &&
    nodeRows.length === 3 &&
    nodeRows.every((r) => r.healthy) &&
    networkPolicyHealthy({ name: nodeName });
  if (!reuse) await runClusterTool(['up', '--node', '--network-policy']);
  await runClusterTool(['images']);
  process.env.KUBECONFIG = kubeconfigPath;
  project.provide('kubeconfig', kubeconfigPath);
  return async () => {
    if (!reuse) await runClusterTool(['down']);
  };
}
