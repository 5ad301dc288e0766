#!/usr/bin/env node
// The local Kubernetes: `npm run cluster -- build | up [--node] | down | status | env | kwok`.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { binLinkDir, clusterDir, kubeconfigPath, repoRoot } from './config.ts';
import { controlPlaneDown, controlPlaneStatus, controlPlaneUp, removeHostLink } from './control-plane.ts';
import { nodesFlag } from './node-spec.ts';
import { clusterProcesses, log, stopPids } from './processes.ts';

const usage = `usage: npm run cluster -- <command>

  build [component ...]  build kubernetes, etcd, kwok, helm, coredns from source (cached by version)
  up [--node|--nodes N]  start the control plane (and with --node a real node: containerd, kubelet,
                         kube-proxy; with --nodes N, N real nodes, each in its own network namespace)
  up ... --network-policy  also enforce NetworkPolicy on every node (kube-router's firewall, from source)
  down                   stop everything this tool started and remove its state
  status                 say what runs
  env                    print shell exports (KUBECONFIG, PATH) for the local cluster
  kwok                   start kwok against the control plane (simulated nodes, for scale tests)
  images [ref ...]       build the project's images and import them into every node's containerd
  node NAME FAULT        a node fault on an extra node (lpo-node-2 …): power-off, power-on, cut, heal`;

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
      const nodes = nodeCountFlag(rest);
      const missingBuild = spawnSync('bash', [path.join(repoRoot, 'test/cluster/build.sh'), '--check'], {
        stdio: 'ignore',
      });
      if (missingBuild.status !== 0 && !process.env.LPO_K8S_BIN_DIR) {
        log('binaries not built yet; building them now (cold build: tens of minutes, printed as it goes)');
        const r = spawnSync('bash', [path.join(repoRoot, 'test/cluster/build.sh')], { stdio: 'inherit' });
        if (r.status !== 0) return r.status ?? 1;
      }
      await controlPlaneUp();
      if (nodes > 0) {
        const { nodesUp } = await import('./node.ts');
        await nodesUp(nodes);
      }
      if (rest.includes('--network-policy')) {
        if (nodes === 0) throw new Error('--network-policy needs a node: add --node or --nodes N');
        const { networkPolicyUp } = await import('./network-policy.ts');
        const { nodeSpecs } = await import('./node-spec.ts');
        for (const n of nodeSpecs(nodes)) await networkPolicyUp(n);
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
    case 'node': {
      const [name, fault] = rest;
      const faults = await import('./node-faults.ts');
      const act: Record<string, (n: string) => unknown> = {
        'power-off': faults.powerOff,
        'power-on': faults.powerOn,
        cut: faults.partitionNode,
        heal: faults.healPartition,
      };
      if (!name || !fault || !act[fault]) {
        process.stderr.write(usage + '\n');
        return 2;
      }
      await act[fault](name);
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

/** 0 for the control plane alone, 1 for `--node`, N for `--nodes N` (or `--nodes=N`). */
function nodeCountFlag(args: string[]): number {
  return nodesFlag(args) ?? (args.includes('--node') ? 1 : 0);
}

async function down(): Promise<void> {
  try {
    const { networkPolicyDown } = await import('./network-policy.ts');
    const { configuredNodeCount } = await import('./node.ts');
    const { nodeSpecs } = await import('./node-spec.ts');
    for (const n of nodeSpecs(configuredNodeCount())) await networkPolicyDown(n);
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
    const { nodesStatus } = await import('./node.ts');
    for (const { node, components } of await nodesStatus()) {
      for (const r of components) {
        allHealthy &&= r.healthy;
        const label = `${r.component} (${node.name})`;
        process.stdout.write(
          `${label.padEnd(26)} ${r.pid ? `pid ${r.pid}`.padEnd(12) : 'not running'.padEnd(12)} ${r.healthy ? 'healthy' : 'unhealthy'}\n`,
        );
      }
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
