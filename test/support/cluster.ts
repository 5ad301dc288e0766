import { spawn } from 'node:child_process';
import path from 'node:path';
import { kubeconfigPath, repoRoot } from '../cluster/config.ts';
import { controlPlaneStatus } from '../cluster/control-plane.ts';

/** Helpers for vitest global setups: reuse a running local cluster, or start one and stop it after. */

export function runClusterTool(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'test/cluster/cluster.ts'), ...args], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`cluster ${args.join(' ')} exited with ${code}`)),
    );
  });
}

export async function controlPlaneHealthy(): Promise<boolean> {
  const rows = await controlPlaneStatus().catch(() => []);
  return rows.length > 0 && rows.every((r) => r.healthy);
}

export { kubeconfigPath };
