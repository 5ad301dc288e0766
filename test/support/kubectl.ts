import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { inject } from 'vitest';
import { binLinkDir } from '../cluster/config.ts';

/** kubectl from the local cluster's build, against the test cluster. */
export function kubectl(args: string[], input?: string): string {
  return execFileSync(path.join(binLinkDir, 'kubectl'), ['--kubeconfig', inject('kubeconfig'), ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    ...(input !== undefined ? { input } : {}),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Runs kubectl expecting failure; returns its stderr. */
export function kubectlFails(args: string[], input?: string): string {
  try {
    kubectl(args, input);
  } catch (err) {
    return String((err as { stderr?: string }).stderr ?? err);
  }
  throw new Error(`kubectl ${args.join(' ')} succeeded but was expected to fail`);
}
