import type { TestProject } from 'vitest/node';
import { controlPlaneHealthy, kubeconfigPath, runClusterTool } from '../support/cluster.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string;
  }
}

/**
 * Integration tests share one real control plane. A cluster that is already running (a developer's
 * `npm run cluster -- up`) is reused and left running; otherwise one is started here and stopped
 * when the run ends.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const reuse = await controlPlaneHealthy();
  if (!reuse) await runClusterTool(['up']);
  process.env.KUBECONFIG = kubeconfigPath;
  project.provide('kubeconfig', kubeconfigPath);
  return async () => {
    if (!reuse) await runClusterTool(['down']);
  };
}
