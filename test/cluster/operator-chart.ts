import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { binLinkDir, kubeconfigPath, repoRoot } from './config.ts';

/**
 * Installs (or upgrades) the operator's chart into the local cluster with the locally built images.
 * The CRD is applied on its own first (it may exist already, kept from an earlier release) and the
 * chart is told to leave it alone. `env` goes into the operator's environment (the chart's
 * extraEnv), as strings.
 */
export function installOperatorChart(
  release: string,
  namespace: string,
  extraSets: string[] = [],
  env: Record<string, string> = {},
): void {
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(path.join(binLinkDir, cmd), args, { encoding: 'utf8', timeout: 200_000 });
    if (r.status !== 0)
      throw new Error(`${cmd} ${args.slice(0, 3).join(' ')} failed: ${(r.stderr || String(r.error)).trim()}`);
  };
  run('kubectl', [
    '--kubeconfig',
    kubeconfigPath,
    'apply',
    '--server-side',
    '--force-conflicts',
    '-f',
    path.join(repoRoot, 'crds'),
  ]);
  run('helm', [
    'upgrade',
    '--install',
    release,
    path.join(repoRoot, 'charts/license-pair-operator'),
    '-n',
    namespace,
    '--create-namespace',
    '--set',
    'crds.install=false',
    ...extraSets.flatMap((s) => ['--set', s]),
    ...Object.entries(env).flatMap(([name, value], i) => [
      '--set',
      `extraEnv[${i}].name=${name}`,
      '--set-string',
      `extraEnv[${i}].value=${value}`,
    ]),
    '--wait',
    '--timeout',
    '180s',
    '--kubeconfig',
    kubeconfigPath,
  ]);
}
