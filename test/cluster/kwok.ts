import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { binaryPath, clusterDir, kubeconfigPath } from './config.ts';
import { log, runningPid, startProcess, stopProcess, waitFor } from './processes.ts';

/**
 * kwok plays kubelets for nodes annotated `kwok.x-k8s.io/node: fake`: it marks them Ready and
 * moves their pods to Running without running containers. Used by the scale benchmark.
 */
export const kwokHealthPort = 10247;

export async function kwokUp(): Promise<void> {
  if (runningPid('kwok') !== undefined) {
    log('kwok already running');
    return;
  }
  log('starting kwok (manages nodes annotated kwok.x-k8s.io/node=fake)');
  startProcess(
    'kwok',
    binaryPath('kwok'),
    [
      `--kubeconfig=${kubeconfigPath}`,
      // Without stages kwok refuses to start ("no stages found").
      `--config=${path.join(path.dirname(fileURLToPath(import.meta.url)), 'kwok-stages.yaml')}`,
      // A Lease per node, as a kubelet keeps: without it the node controller marks the nodes Unknown
      // after 40 s and evicts their pods.
      '--node-lease-duration-seconds=40',
      '--manage-all-nodes=false',
      '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
      '--manage-nodes-with-label-selector=',
      '--disregard-status-with-annotation-selector=kwok.x-k8s.io/status=custom',
      '--disregard-status-with-label-selector=',
      `--server-address=127.0.0.1:${kwokHealthPort}`,
      '--cidr=10.240.0.1/16',
      '--node-ip=10.250.0.1',
    ],
    { KWOK_WORKDIR: path.join(clusterDir, 'kwok') },
  );
  await waitFor(
    'kwok healthz',
    async () => (await fetch(`http://127.0.0.1:${kwokHealthPort}/healthz`)).ok,
    30_000,
    'kwok',
  );
}

export async function kwokDown(): Promise<void> {
  if (await stopProcess('kwok')) log('stopped kwok');
}
