#!/usr/bin/env node
// The local Kubernetes: `npm run cluster -- build | up [--node] | down | status | env | kwok`.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { binLinkDir, clusterDir, kubeconfigPath, nodeName, repoRoot } from './config.ts';
import { controlPlaneDown, controlPlaneStatus, controlPlaneUp, removeHostLink } from './control-plane.ts';
import { clusterProcesses, log, stopPids } from './processes.ts';

const usage = `usage: npm run cluster -- <command>

  build [component ...]  build kubernetes, etcd, kwok, helm, coredns from source (cached by version)
  up [--node]            start the control plane (and with --node a real node: containerd, kubelet, kube-proxy)
  up --node --network-policy  also enforce NetworkPolicy on the node (kube-router's firewall, built from source)
  down                   stop everything this tool started and remove its state
  status                 say what runs
  env                    print shell exports (KUBECONFIG, PATH) for the local cluster
  kwok                   start kwok against the control plane (simulated nodes, for scale tests)
  images [ref ...]       build the project's images and import them into the node's containerd`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'build': {
      const r = spawnSync('bash', [path.join(repoRoot, 'test/cluster/build.sh'), ...rest], {
        stdio: 'inherit',
      });
      return r.status ?? 1;
    }
    case 'up': {
      const withNode = rest.includes('--node');
      const missingBuild = spawnSync('bash', [path.join(repoRoot, 'test/cluster/build.sh'), '--check'], {
        stdio: 'ignore',
      });
      if (missingBuild.status !== 0 && !process.env.LPO_K8S_BIN_DIR) {
        log('binaries not built yet; building them now (cold build: tens of minutes, printed as it goes)');
        const r = spawnSync('bash', [path.join(repoRoot, 'test/cluster/build.sh')], { stdio: 'inherit' });
        if (r.status !== 0) return r.status ?? 1;
      }
      await controlPlaneUp();
      if (withNode) {
        const { nodeUp } = await import('./node.ts');
        await nodeUp();
      }
      if (rest.includes('--network-policy')) {
        const { networkPolicyUp } = await import('./network-policy.ts');
        await networkPolicyUp({ name: nodeName });
      }
      printNextSteps();
      return 0;
    }
    case 'down': {
      await down();
      return 0;
    }
    case 'status': {
      return await status();
    }
    case 'env': {
      process.stdout.write(`export KUBECONFIG=${kubeconfigPath}\nexport PATH=${binLinkDir}:$PATH\n`);
      return 0;
    }
    case 'images': {
      const { buildAndImportImages } = await import('./project-images.ts');
      buildAndImportImages(rest.length ? rest : undefined);
      return 0;
    }
    case 'kwok': {
      const { kwokUp } = await import('./kwok.ts');
      await kwokUp();
      return 0;
    }
    default:
      process.stderr.write(usage + '\n');
      return command === undefined || command === 'help' || command === '--help' ? 0 : 2;
  }
}

async function down(): Promise<void> {
  try {
    const { networkPolicyDown } = await import('./network-policy.ts');
    await networkPolicyDown({ name: nodeName });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
  }
  try {
    const { nodeDown } = await import('./node.ts');
    await nodeDown();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
  }
  try {
    const { kwokDown } = await import('./kwok.ts');
    await kwokDown();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
  }
  await controlPlaneDown();
  // Whatever is left (a crashed `up`, lost pid files) is found by its command line.
  const stale = clusterProcesses();
  if (stale.length) {
    log(`stopping ${stale.length} leftover process(es): ${stale.map((p) => p.pid).join(', ')}`);
    await stopPids(stale.map((p) => p.pid));
  }
  removeHostLink();
  rmSync(clusterDir, { recursive: true, force: true });
  log('down: nothing of the local cluster is running; state removed');
}

async function status(): Promise<number> {
  const rows = await controlPlaneStatus();
  let allHealthy = true;
  for (const r of rows) {
    allHealthy &&= r.healthy;
    process.stdout.write(
      `${r.component.padEnd(26)} ${r.pid ? `pid ${r.pid}`.padEnd(12) : 'not running'.padEnd(12)} ${r.healthy ? 'healthy' : 'unhealthy'}\n`,
    );
  }
  try {
    const { nodeStatus } = await import('./node.ts');
    for (const r of await nodeStatus()) {
      process.stdout.write(
        `${r.component.padEnd(26)} ${r.pid ? `pid ${r.pid}`.padEnd(12) : 'not running'.padEnd(12)} ${r.healthy ? 'healthy' : 'unhealthy'}\n`,
      );
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
  }
  process.stdout.write(`kubeconfig: ${kubeconfigPath}\n`);
  return allHealthy ? 0 : 1;
}

function printNextSteps(): void {
  process.stdout.write(
    `\nThe local cluster is up.\n  export KUBECONFIG=${kubeconfigPath}\n  export PATH=${binLinkDir}:$PATH\n` +
      `  kubectl get --raw=/readyz\n  npm run cluster -- down   # stops it and removes its state\n`,
  );
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`ERROR: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
