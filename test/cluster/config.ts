import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Everything about where the local cluster lives and which addresses it uses. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const clusterDir = process.env.LPO_CLUSTER_DIR ?? path.join(repoRoot, '.local-cluster');
export const kubeconfigPath = path.join(clusterDir, 'kubeconfig');
export const binLinkDir = path.join(clusterDir, 'bin');
export const pkiDir = path.join(clusterDir, 'pki');
export const logDir = path.join(clusterDir, 'logs');
export const runDir = path.join(clusterDir, 'run');
export const dataDir = path.join(clusterDir, 'data');

function readVersions(): Record<string, string> {
  // versions.sh is the single place versions are pinned; bash evaluates it so defaults resolve.
  const out = execFileSync(
    'bash',
    [
      '-c',
      `source "${path.join(repoRoot, 'test/cluster/versions.sh')}" && ` +
        'echo "K8S_VERSION=$K8S_VERSION"; echo "ETCD_VERSION=$ETCD_VERSION"; echo "KWOK_VERSION=$KWOK_VERSION"; ' +
        'echo "HELM_VERSION=$HELM_VERSION"; echo "COREDNS_VERSION=$COREDNS_VERSION"; echo "LPO_CACHE_DIR=$LPO_CACHE_DIR"; ' +
        'echo "K8S_BIN_DIR=$K8S_BIN_DIR"',
    ],
    { encoding: 'utf8' },
  );
  return Object.fromEntries(
    out
      .trim()
      .split('\n')
      .map((line) => {
        const i = line.indexOf('=');
        return [line.slice(0, i), line.slice(i + 1)];
      }),
  );
}

const versions = readVersions();
export const k8sVersion = versions.K8S_VERSION!;
export const cacheDir = versions.LPO_CACHE_DIR!;

/**
 * Where each binary comes from. LPO_K8S_BIN_DIR points at a directory holding all of them
 * (for example envtest assets plus kubelet/kube-proxy), overriding the build cache.
 */
export function binaryPath(name: string): string {
  const override = process.env.LPO_K8S_BIN_DIR;
  if (override) return path.join(override, name);
  const dirs: Record<string, string> = {
    'kube-apiserver': versions.K8S_BIN_DIR!,
    'kube-controller-manager': versions.K8S_BIN_DIR!,
    'kube-scheduler': versions.K8S_BIN_DIR!,
    kubelet: versions.K8S_BIN_DIR!,
    'kube-proxy': versions.K8S_BIN_DIR!,
    kubectl: versions.K8S_BIN_DIR!,
    etcd: path.join(cacheDir, `etcd-v${versions.ETCD_VERSION}`),
    kwok: path.join(cacheDir, `kwok-v${versions.KWOK_VERSION}`),
    helm: path.join(cacheDir, `helm-v${versions.HELM_VERSION}`),
    coredns: path.join(cacheDir, `coredns-v${versions.COREDNS_VERSION}`),
  };
  const dir = dirs[name];
  if (!dir) throw new Error(`unknown binary ${name}`);
  return path.join(dir, name);
}

export const controlPlaneBinaries = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubectl',
];
export const toolBinaries = [
  'kubectl',
  'helm',
  'kwok',
  'etcd',
  'kube-apiserver',
  'kubelet',
  'kube-proxy',
  'coredns',
];

export function missingBinaries(names: string[]): string[] {
  return names.filter((n) => !existsSync(binaryPath(n)));
}

function envPort(name: string, fallback: number): number {
  const v = process.env[name];
  return v ? Number(v) : fallback;
}

/**
 * The API server listens on a dedicated address on an interface of our own (an empty bridge), so
 * pods on the local node can reach it through the `kubernetes` Service, while nothing listens on
 * the machine's real network. Without root (control plane only) it falls back to loopback.
 */
export const net = {
  hostLink: 'lpo-host0',
  hostIP: process.env.LPO_HOST_IP ?? '10.250.0.1',
  serviceCIDR: '10.96.0.0/16',
  kubernetesServiceIP: '10.96.0.1',
  dnsServiceIP: '10.96.0.10',
  clusterCIDR: '10.244.0.0/16',
  podCIDR: '10.244.0.0/24',
  clusterDomain: 'cluster.local',
  etcdClientPort: envPort('LPO_ETCD_PORT', 12379),
  etcdPeerPort: envPort('LPO_ETCD_PEER_PORT', 12380),
  apiserverPort: envPort('LPO_APISERVER_PORT', 6443),
  controllerManagerPort: envPort('LPO_KCM_PORT', 10257),
  schedulerPort: envPort('LPO_SCHEDULER_PORT', 10259),
  kubeletPort: 10250,
  kubeletHealthzPort: 10248,
  kubeProxyHealthzPort: 10256,
  kubeProxyMetricsPort: 10249,
};

export const nodeName = 'lpo-node-1';
