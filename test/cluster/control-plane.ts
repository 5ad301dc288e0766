import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import {
  binaryPath,
  binLinkDir,
  clusterDir,
  controlPlaneBinaries,
  dataDir,
  k8sVersion,
  kubeconfigPath,
  missingBinaries,
  net,
  toolBinaries,
} from './config.ts';
import { ensurePKI, kubeconfigFor, pkiPath } from './pki.ts';
import { log, portInUse, runningPid, startProcess, stopProcess, waitFor } from './processes.ts';

export const controlPlaneComponents = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
] as const;

interface ClusterState {
  hostIP: string;
  apiserverURL: string;
}

const stateFile = () => path.join(clusterDir, 'cluster.json');

/**
 * Go's garbage-collector target for the control-plane processes. They share this machine's cores
 * with everything under test, and at Go's default (100) a fifth of the API server's CPU went to
 * collection in a 1,000-pair profile (docs/performance.md); memory is what this machine has to
 * spare (the API server peaks near 1.2 GB in that run). LPO_CONTROL_PLANE_GOGC=100 restores Go's
 * default.
 */
const controlPlaneEnv = (): NodeJS.ProcessEnv => ({ GOGC: process.env.LPO_CONTROL_PLANE_GOGC ?? '300' });

/**
 * What kube-controller-manager and kube-scheduler are started with alike: their kubeconfig, a
 * serving port on loopback, one replica (no leader election).
 */
function controllerArgs(kubeconfig: string, port: number): string[] {
  return [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${port}`,
    `--tls-cert-file=${pkiPath('local-serving.crt')}`,
    `--tls-private-key-file=${pkiPath('local-serving.key')}`,
    '--leader-elect=false',
    '--profiling=false',
    '--v=1',
  ];
}

export function readState(): ClusterState | undefined {
  try {
    return JSON.parse(readFileSync(stateFile(), 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/**
 * A link of our own (an empty bridge: this kernel may lack the dummy driver) carrying the API server's address: reachable from pods on the local node (through
 * the `kubernetes` Service) yet not on any real network of the machine.
 */
function ensureHostLink(): string {
  if (!isRoot()) return '127.0.0.1';
  const ip = (args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  if (!ip(['link', 'show']).includes(`${net.hostLink}:`)) ip(['link', 'add', net.hostLink, 'type', 'bridge']);
  if (!ip(['addr', 'show', 'dev', net.hostLink]).includes(`${net.hostIP}/`)) {
    ip(['addr', 'add', `${net.hostIP}/32`, 'dev', net.hostLink]);
  }
  ip(['link', 'set', net.hostLink, 'up']);
  // Service and pod addresses must never leave the machine: without a route of their own they
  // would follow the default route (before kube-proxy's DNAT exists, or for pod IPs of no local
  // pod). Routed into our own empty bridge they go nowhere; DNAT and the node's CNI bridge (a
  // more specific route) still take the traffic that has somewhere to go.
  for (const cidr of [net.serviceCIDR, net.clusterCIDR]) ip(['route', 'replace', cidr, 'dev', net.hostLink]);
  return net.hostIP;
}

export function removeHostLink(): void {
  if (!isRoot()) return;
  try {
    execFileSync('ip', ['link', 'del', net.hostLink], { stdio: 'ignore' });
  } catch {
    // Not there.
  }
}

export function httpsGet(url: string, timeoutMs = 3000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      url,
      {
        ca: readFileSync(pkiPath('ca.crt')),
        cert: readFileSync(pkiPath('admin.crt')),
        key: readFileSync(pkiPath('admin.key')),
        timeout: timeoutMs,
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function ok(url: string): Promise<boolean> {
  const r = await httpsGet(url);
  return r.status === 200;
}

function linkTools(): void {
  mkdirSync(binLinkDir, { recursive: true });
  for (const name of toolBinaries) {
    const target = binaryPath(name);
    const link = path.join(binLinkDir, name);
    rmSync(link, { force: true });
    if (existsSync(target)) symlinkSync(target, link);
  }
}

async function checkPorts(host: string): Promise<void> {
  const wanted: [string, string, number][] = [
    ['etcd', '127.0.0.1', net.etcdClientPort],
    ['etcd (peer)', '127.0.0.1', net.etcdPeerPort],
    ['kube-apiserver', host, net.apiserverPort],
    ['kube-controller-manager', '127.0.0.1', net.controllerManagerPort],
    ['kube-scheduler', '127.0.0.1', net.schedulerPort],
  ];
  for (const [who, h, port] of wanted) {
    if (await portInUse(h, port)) {
      let holder = '';
      try {
        holder = execFileSync('ss', ['-Hltnp', `sport = :${port}`], { encoding: 'utf8' }).trim();
      } catch {
        // ss is optional: the message is still clear without it.
      }
      throw new Error(
        `port ${h}:${port} (for ${who}) is already in use${holder ? ` by: ${holder}` : ''}. ` +
          `Stop that process, run \`npm run cluster -- down\` if it is a leftover of this tool, or choose another port ` +
          `(LPO_ETCD_PORT, LPO_ETCD_PEER_PORT, LPO_APISERVER_PORT, LPO_KCM_PORT, LPO_SCHEDULER_PORT).`,
      );
    }
  }
}

export async function controlPlaneUp(): Promise<ClusterState> {
  const missing = missingBinaries(controlPlaneBinaries);
  if (missing.length) {
    throw new Error(
      `missing binaries: ${missing.map(binaryPath).join(', ')}. Run \`npm run cluster -- build\` first ` +
        `(or set LPO_K8S_BIN_DIR to a directory holding them).`,
    );
  }
  const running = controlPlaneComponents.filter((c) => runningPid(c) !== undefined);
  const existing = readState();
  if (
    running.length === controlPlaneComponents.length &&
    existing &&
    (await ok(`${existing.apiserverURL}/readyz`).catch(() => false))
  ) {
    log(`control plane already running at ${existing.apiserverURL}`);
    linkTools();
    return existing;
  }
  if (running.length) {
    log(`a half-started control plane was found (${running.join(', ')}); stopping it first`);
    for (const c of [...controlPlaneComponents].reverse()) await stopProcess(c);
  }

  const started = Date.now();
  mkdirSync(clusterDir, { recursive: true });
  const hostIP = ensureHostLink();
  await checkPorts(hostIP);
  log('generating PKI');
  ensurePKI();
  const apiserverURL = `https://${hostIP}:${net.apiserverPort}`;
  const state: ClusterState = { hostIP, apiserverURL };
  writeFileSync(stateFile(), JSON.stringify(state, null, 2) + '\n');
  for (const [name, cert, user] of [
    ['controller-manager', 'controller-manager', 'system:kube-controller-manager'],
    ['scheduler', 'scheduler', 'system:kube-scheduler'],
    ['kubelet', 'kubelet', 'kubelet'],
    ['kube-proxy', 'kube-proxy', 'kube-proxy'],
  ] as const) {
    writeFileSync(path.join(clusterDir, `${name}.kubeconfig`), kubeconfigFor(cert, apiserverURL, user), {
      mode: 0o600,
    });
  }
  writeFileSync(kubeconfigPath, kubeconfigFor('admin', apiserverURL, 'lpo-admin'), { mode: 0o600 });
  linkTools();

  await startEtcd();
  await startApiserver(state);

  const kcmKubeconfig = path.join(clusterDir, 'controller-manager.kubeconfig');
  log('starting kube-controller-manager');
  startProcess(
    'kube-controller-manager',
    binaryPath('kube-controller-manager'),
    [
      ...controllerArgs(kcmKubeconfig, net.controllerManagerPort),
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${pkiPath('sa.key')}`,
      `--root-ca-file=${pkiPath('ca.crt')}`,
      `--cluster-signing-cert-file=${pkiPath('ca.crt')}`,
      `--cluster-signing-key-file=${pkiPath('ca.key')}`,
      '--allocate-node-cidrs=true',
      `--cluster-cidr=${net.clusterCIDR}`,
      '--node-cidr-mask-size=24',
      `--service-cluster-ip-range=${net.serviceCIDR}`,
    ],
    controlPlaneEnv(),
  );
  const schedKubeconfig = path.join(clusterDir, 'scheduler.kubeconfig');
  log('starting kube-scheduler');
  startProcess(
    'kube-scheduler',
    binaryPath('kube-scheduler'),
    [
      ...controllerArgs(schedKubeconfig, net.schedulerPort),
      // Its client's default 50 requests/s (a binding and an Event per pod) would schedule at most 25
      // pods a second: the scale benchmark's 2,000 pods would wait 80 s on this alone.
      '--kube-api-qps=500',
      '--kube-api-burst=1000',
    ],
    controlPlaneEnv(),
  );
  await waitFor(
    'kube-controller-manager /healthz',
    () => ok(`https://127.0.0.1:${net.controllerManagerPort}/healthz`),
    60_000,
    'kube-controller-manager',
  );
  await waitFor(
    'kube-scheduler /healthz',
    () => ok(`https://127.0.0.1:${net.schedulerPort}/healthz`),
    60_000,
    'kube-scheduler',
  );
  // Pods need the namespace's default ServiceAccount, which the controller-manager creates.
  await waitFor(
    'the default ServiceAccount',
    async () =>
      (await httpsGet(`${apiserverURL}/api/v1/namespaces/default/serviceaccounts/default`)).status === 200,
    60_000,
    'kube-controller-manager',
  );
  log(
    `control plane ready in ${((Date.now() - started) / 1000).toFixed(1)} s; kubeconfig: ${kubeconfigPath}`,
  );
  return state;
}

/** etcd with the cluster's data directory (started by `up`; tests restart it to inject faults). */
export async function startEtcd(): Promise<void> {
  const etcdURL = `http://127.0.0.1:${net.etcdClientPort}`;
  mkdirSync(path.join(dataDir, 'etcd'), { recursive: true, mode: 0o700 });
  log(`starting etcd on ${etcdURL}`);
  startProcess(
    'etcd',
    binaryPath('etcd'),
    [
      '--name=lpo-local',
      `--data-dir=${path.join(dataDir, 'etcd')}`,
      `--listen-client-urls=${etcdURL}`,
      `--advertise-client-urls=${etcdURL}`,
      `--listen-peer-urls=http://127.0.0.1:${net.etcdPeerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${net.etcdPeerPort}`,
      `--initial-cluster=lpo-local=http://127.0.0.1:${net.etcdPeerPort}`,
      // A throwaway test cluster: skipping fsync makes the API server several times faster on a
      // small VM disk. Never do this with data you care about.
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ],
    controlPlaneEnv(),
  );
  await waitFor('etcd health', async () => (await fetch(`${etcdURL}/health`)).ok, 30_000, 'etcd');
}

/** kube-apiserver against etcd (started by `up`; tests restart it to inject faults). */
export async function startApiserver(state: ClusterState): Promise<void> {
  const { hostIP, apiserverURL } = state;
  const etcdURL = `http://127.0.0.1:${net.etcdClientPort}`;
  log(`starting kube-apiserver v${k8sVersion} on ${apiserverURL}`);
  startProcess(
    'kube-apiserver',
    binaryPath('kube-apiserver'),
    [
      `--etcd-servers=${etcdURL}`,
      `--bind-address=${hostIP}`,
      `--advertise-address=${hostIP}`,
      `--secure-port=${net.apiserverPort}`,
      `--tls-cert-file=${pkiPath('apiserver.crt')}`,
      `--tls-private-key-file=${pkiPath('apiserver.key')}`,
      `--client-ca-file=${pkiPath('ca.crt')}`,
      `--kubelet-client-certificate=${pkiPath('apiserver-kubelet-client.crt')}`,
      `--kubelet-client-key=${pkiPath('apiserver-kubelet-client.key')}`,
      `--kubelet-certificate-authority=${pkiPath('ca.crt')}`,
      '--kubelet-preferred-address-types=InternalIP,Hostname',
      `--service-account-key-file=${pkiPath('sa.pub')}`,
      `--service-account-signing-key-file=${pkiPath('sa.key')}`,
      `--service-account-issuer=https://kubernetes.default.svc.${net.clusterDomain}`,
      `--service-cluster-ip-range=${net.serviceCIDR}`,
      '--authorization-mode=Node,RBAC',
      '--allow-privileged=true',
      // Off, as a hardened cluster has it; LPO_APISERVER_PROFILING=1 turns on /debug/pprof for
      // finding where the API server's time goes in a benchmark.
      `--profiling=${process.env.LPO_APISERVER_PROFILING === '1'}`,
      '--v=1',
    ],
    controlPlaneEnv(),
  );
  await waitFor('kube-apiserver /readyz', () => ok(`${apiserverURL}/readyz`), 90_000, 'kube-apiserver');
}

export async function controlPlaneDown(): Promise<void> {
  for (const c of [...controlPlaneComponents].reverse()) {
    if (await stopProcess(c)) log(`stopped ${c}`);
  }
}

export async function controlPlaneStatus(): Promise<{ component: string; pid?: number; healthy: boolean }[]> {
  const state = readState();
  const checks: Record<string, () => Promise<boolean>> = {
    etcd: async () => (await fetch(`http://127.0.0.1:${net.etcdClientPort}/health`)).ok,
    'kube-apiserver': () => (state ? ok(`${state.apiserverURL}/readyz`) : Promise.resolve(false)),
    'kube-controller-manager': () => ok(`https://127.0.0.1:${net.controllerManagerPort}/healthz`),
    'kube-scheduler': () => ok(`https://127.0.0.1:${net.schedulerPort}/healthz`),
  };
  const out = [];
  for (const c of controlPlaneComponents) {
    const pid = runningPid(c);
    const healthy = pid !== undefined && (await checks[c]!().catch(() => false));
    out.push({ component: c, pid, healthy });
  }
  return out;
}
