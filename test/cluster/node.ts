import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { binaryPath, clusterDir, net, runDir } from './config.ts';
import { httpsGet, readState } from './control-plane.ts';
import { ensureNodeCgroup, removeNodeCgroup } from './node-cgroups.ts';
import { existingNodeNamespaces, nodeNetworkDown, nodeNetworkUp } from './node-network.ts';
import type { NodeComponent, NodeSpec } from './node-spec.ts';
import { inNodeNet, maxNodes, nodeSpec, nodeSpecByName, nodeSpecs, processName } from './node-spec.ts';
import { ensureNodeKubeletCerts, kubeconfigFor, pkiPath } from './pki.ts';
import { log, pidFile, runningPid, sleep, startProcess, stopProcess, waitFor } from './processes.ts';

/**
 * Real nodes on this machine: each is our own containerd instance (Debian's containerd, runc and
 * CNI plugins), the kubelet and kube-proxy (iptables mode) from the source build. Node 1 uses
 * the machine's network namespace; further nodes each have their own (see node-spec.ts and
 * node-network.ts). Everything is named so `nodeDown` can find and remove it after a crash: the
 * containerd sockets and roots live under the cluster directory, the CNI bridge is `lpo-cni0`,
 * pod network namespaces are `cni-*`, node namespaces `lpo-node-N`, iptables chains are KUBE-*
 * and CNI-*.
 */

export const nodeComponents = ['containerd', 'kubelet', 'kube-proxy'] as const;
const cniBridge = 'lpo-cni0';
const cniBinDir = '/usr/lib/cni';
export const pauseImage = 'lpo.local/pause:3.10';
/** The first node's containerd (the one-node bed's only one). */
export const containerdSocket = nodeSpec(1).containerdSocket;
const nodeCountFile = path.join(runDir, 'nodes');

function sh(cmd: string, args: string[], opts: { allowFail?: boolean; input?: string } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input });
  if (r.status !== 0 && !opts.allowFail) {
    throw new Error(
      `${cmd} ${args.join(' ')} failed (${r.status}): ${(r.stderr || r.stdout || String(r.error)).trim()}`,
    );
  }
  return r.stdout ?? '';
}

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function ensurePackages(): void {
  const wanted: [string, () => boolean][] = [
    ['containerd', () => has('containerd') && has('ctr')],
    ['runc', () => has('runc')],
    [
      'containernetworking-plugins',
      () => ['bridge', 'host-local', 'loopback', 'portmap'].every((p) => existsSync(path.join(cniBinDir, p))),
    ],
    ['conntrack', () => has('conntrack')],
    ['iptables', () => has('iptables')],
  ];
  const missing = wanted.filter(([, present]) => !present()).map(([pkg]) => pkg);
  if (!missing.length) return;
  log(`installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
    stdio: 'inherit',
    env,
  });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    r = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
      stdio: 'inherit',
      env,
    });
  }
  if (r.status !== 0)
    throw new Error(`could not install ${missing.join(' ')} with apt-get; install them by hand and retry`);
}

function prepareHost(): void {
  if (process.getuid?.() !== 0)
    throw new Error('a real node needs root (containerd, iptables, network namespaces)');
  ensurePackages();
  spawnSync('modprobe', ['br_netfilter'], { stdio: 'ignore' });
  spawnSync('modprobe', ['overlay'], { stdio: 'ignore' });
  writeFileSync('/proc/sys/net/ipv4/ip_forward', '1\n');
  const brnf = '/proc/sys/net/bridge/bridge-nf-call-iptables';
  if (!existsSync(brnf))
    throw new Error(
      'bridge netfilter is not available (modprobe br_netfilter failed); kube-proxy cannot route pod traffic to Services',
    );
  writeFileSync(brnf, '1\n');
  // kube-proxy's iptables mode needs route_localnet for NodePorts on loopback.
  writeFileSync('/proc/sys/net/ipv4/conf/all/route_localnet', '1\n');
}

/**
 * The kubelet asks for a negative oom_score_adj for pod sandboxes (-998) and Guaranteed pods
 * (-997). Lowering it needs CAP_SYS_RESOURCE, which some sandboxed machines (this one) withhold
 * even from root, and runc then fails with "can't get final child's PID from pipe: EOF". When the
 * capability is missing, runc is wrapped so a negative score becomes 0; nothing else changes.
 */
function hasCapSysResource(): boolean {
  const capEff = /CapEff:\s*([0-9a-f]+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';
  return (BigInt(`0x${capEff}`) & (1n << 24n)) !== 0n;
}

let runc: string | undefined;

function runcBinary(): string {
  runc ??= makeRuncBinary();
  return runc;
}

function makeRuncBinary(): string {
  if (hasCapSysResource()) return '/usr/sbin/runc';
  const wrapper = path.join(clusterDir, 'containerd', 'runc-oom-clamp');
  mkdirSync(path.dirname(wrapper), { recursive: true });
  writeFileSync(
    wrapper,
    `#!/bin/sh
# Generated by the local cluster tool: see runcBinary() in test/cluster/node.ts.
prev=""
for arg in "$@"; do
  if [ "$prev" = "--bundle" ] && [ -f "$arg/config.json" ]; then
    sed -i 's/"oomScoreAdj":-[0-9]*/"oomScoreAdj":0/' "$arg/config.json"
  fi
  prev="$arg"
done
exec /usr/sbin/runc "$@"
`,
    { mode: 0o755 },
  );
  log('this machine withholds CAP_SYS_RESOURCE: runc is wrapped to clamp negative oom_score_adj to 0');
  return wrapper;
}

function writeContainerdConfig(node: NodeSpec, runc: string, masquerade: boolean): string {
  mkdirSync(node.configDir, { recursive: true });
  mkdirSync(path.join(node.configDir, 'containerd'), { recursive: true });
  mkdirSync(node.cniConfDir, { recursive: true });
  const file = path.join(node.configDir, 'containerd', 'config.toml');
  writeFileSync(
    file,
    `version = 2
root = "${node.containerdRoot}"
state = "${node.containerdState}"

[grpc]
  address = "${node.containerdSocket}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${pauseImage}"
  enable_unprivileged_ports = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "${runc}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${cniBinDir}"
    conf_dir = "${node.cniConfDir}"
`,
  );
  writeFileSync(
    path.join(node.cniConfDir, '10-lpo.conflist'),
    JSON.stringify(
      {
        cniVersion: '1.0.0',
        name: 'lpo',
        plugins: [
          {
            type: 'bridge',
            bridge: cniBridge,
            isGateway: true,
            // With several nodes pod traffic is routed between them unchanged, so the receiving
            // node (and its NetworkPolicy) sees the sending pod's own address.
            ipMasq: masquerade,
            hairpinMode: true,
            ipam: {
              type: 'host-local',
              ranges: [[{ subnet: node.podCIDR }]],
              routes: [{ dst: '0.0.0.0/0' }],
              dataDir: node.cniIpamDir,
            },
          },
          { type: 'portmap', capabilities: { portMappings: true } },
        ],
      },
      null,
      2,
    ) + '\n',
  );
  return file;
}

function writeKubeletConfig(node: NodeSpec): string {
  const file = path.join(node.configDir, 'kubelet-config.yaml');
  writeFileSync(
    file,
    `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This machine has cgroup v1 (hybrid layout). Kubernetes >= 1.35 refuses cgroup v1 unless told.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: ${node.cgroupRoot}
containerRuntimeEndpoint: unix://${node.containerdSocket}
address: ${node.ip}
port: ${net.kubeletPort}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: ${net.kubeletHealthzPort}
tlsCertFile: ${pkiPath(`${node.kubeletServingCert}.crt`)}
tlsPrivateKeyFile: ${pkiPath(`${node.kubeletServingCert}.key`)}
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: ${pkiPath('ca.crt')}
authorization:
  mode: Webhook
clusterDNS:
- ${net.dnsServiceIP}
clusterDomain: ${net.clusterDomain}
${node.podLogsDir ? `podLogsDir: ${node.podLogsDir}\n` : ''}failSwapOn: false
serializeImagePulls: false
# A test machine's disk is often fuller than production thresholds allow.
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  imagefs.available: 1%
  nodefs.inodesFree: 1%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
# Fast status updates make NotReady and probe results visible quickly in tests.
nodeStatusUpdateFrequency: 4s
syncFrequency: 10s
fileCheckFrequency: 5s
maxPods: 110
`,
  );
  return file;
}

function kubeProxyHealthz(node: NodeSpec): string {
  // An extra node's loopback is its own: the machine reaches its kube-proxy on the node address.
  return `${node.netns ? node.ip : '127.0.0.1'}:${net.kubeProxyHealthzPort}`;
}

function writeKubeProxyConfig(node: NodeSpec): string {
  const file = path.join(node.configDir, 'kube-proxy-config.yaml');
  writeFileSync(
    file,
    `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection:
  kubeconfig: ${path.join(clusterDir, 'kube-proxy.kubeconfig')}
hostnameOverride: ${node.name}
clusterCIDR: ${net.clusterCIDR}
healthzBindAddress: ${kubeProxyHealthz(node)}
metricsBindAddress: 127.0.0.1:${net.kubeProxyMetricsPort}
conntrack:
  # Leave the host's conntrack sysctls alone.
  maxPerCore: 0
iptables:
  minSyncPeriod: 0s
  syncPeriod: 30s
`,
  );
  return file;
}

/** `ctr` against one node's containerd (node 1 unless a node name is given). */
export function ctr(args: string[], opts: { allowFail?: boolean; node?: string } = {}): string {
  return sh(
    'ctr',
    ['--address', nodeByName(opts.node).containerdSocket, '--namespace', 'k8s.io', ...args],
    opts,
  );
}

function nodeByName(name: string | undefined): NodeSpec {
  if (name === undefined) return nodeSpec(1);
  const node = nodeSpecByName(name);
  if (!node) throw new Error(`${name} is not a node of the local cluster`);
  return node;
}

/** Host pid of a container's init process, from its node's containerd (`ctr tasks ls`). */
export function containerHostPid(containerId: string, node?: string): number {
  const line = ctr(['tasks', 'ls'], { node })
    .split('\n')
    .find((l) => l.startsWith(containerId));
  const pid = Number(line?.trim().split(/\s+/)[1]);
  if (!pid) throw new Error(`no task for container ${containerId}`);
  return pid;
}

/** Kills a container's process as the kernel's OOM killer or a crash would (the kubelet restarts it). */
export function killContainer(containerId: string, node?: string): void {
  ctr(['tasks', 'kill', '--signal', 'SIGKILL', containerId], { node });
}

export async function nodeReady(name: string): Promise<boolean> {
  const state = readState();
  if (!state) return false;
  const r = await httpsGet(`${state.apiserverURL}/api/v1/nodes/${name}`);
  if (r.status !== 200) return false;
  const node = JSON.parse(r.body) as { status?: { conditions?: { type: string; status: string }[] } };
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** How many nodes the running cluster was started with (1 when only the first node ran). */
export function configuredNodeCount(): number {
  try {
    return Number(readFileSync(nodeCountFile, 'utf8').trim()) || 1;
  } catch {
    return 1;
  }
}

export function runningNodes(): NodeSpec[] {
  return nodeSpecs(configuredNodeCount()).filter(
    (n) => runningPid(processName(n, 'containerd')) !== undefined,
  );
}

function start(node: NodeSpec, component: NodeComponent, bin: string, args: string[]): void {
  const [cmd, argv] = inNodeNet(node, bin, args);
  startProcess(processName(node, component), cmd, argv);
}

async function containerdUp(node: NodeSpec, runc: string, masquerade: boolean): Promise<void> {
  const name = processName(node, 'containerd');
  if (runningPid(name) !== undefined) return;
  const config = writeContainerdConfig(node, runc, masquerade);
  mkdirSync(node.containerdRoot, { recursive: true });
  log(`starting containerd (${node.name})`);
  start(node, 'containerd', 'containerd', ['--config', config, '--log-level', 'warn']);
  await waitFor(
    `containerd of ${node.name}`,
    async () => ctr(['version'], { allowFail: true, node: node.name }).includes('Server'),
    30_000,
    name,
  );
}

function kubeletUp(node: NodeSpec): void {
  if (runningPid(processName(node, 'kubelet')) !== undefined) return;
  const config = writeKubeletConfig(node);
  const kubeconfig = path.join(node.configDir, 'kubelet.kubeconfig');
  if (node.index > 1) {
    ensureNodeKubeletCerts(node);
    const state = readState()!;
    writeFileSync(
      kubeconfig,
      kubeconfigFor(node.kubeletClientCert, state.apiserverURL, `system:node:${node.name}`),
      {
        mode: 0o600,
      },
    );
  }
  mkdirSync(node.kubeletRoot, { recursive: true });
  if (node.podLogsDir) mkdirSync(node.podLogsDir, { recursive: true });
  log(`starting kubelet (node ${node.name}, ${node.ip}, ${node.zone})`);
  start(node, 'kubelet', binaryPath('kubelet'), [
    `--config=${config}`,
    `--kubeconfig=${kubeconfig}`,
    `--root-dir=${node.kubeletRoot}`,
    `--hostname-override=${node.name}`,
    `--node-ip=${node.ip}`,
    `--node-labels=topology.kubernetes.io/zone=${node.zone},topology.kubernetes.io/region=local`,
    `--cert-dir=${node.kubeletCertDir}`,
    '--v=1',
  ]);
}

function kubeProxyUp(node: NodeSpec): void {
  if (runningPid(processName(node, 'kube-proxy')) !== undefined) return;
  log(`starting kube-proxy (${node.name}, iptables mode)`);
  start(node, 'kube-proxy', binaryPath('kube-proxy'), [`--config=${writeKubeProxyConfig(node)}`, '--v=1']);
}

async function kubeProxyHealthy(node: NodeSpec): Promise<boolean> {
  return (await fetch(`http://${kubeProxyHealthz(node)}/healthz`, { signal: AbortSignal.timeout(2000) })).ok;
}

/**
 * Starts whatever of one node is not running: its network and cgroup parent, containerd (with the
 * pause image), the kubelet and kube-proxy; resolves when the node is Ready. Also what brings a
 * node back after a power loss.
 */
export async function startNode(node: NodeSpec, masquerade: boolean): Promise<void> {
  ensureNodeCgroup(node);
  nodeNetworkUp(node);
  await containerdUp(node, runcBinary(), masquerade);
  const { ensurePauseImage } = await import('./images.ts');
  await ensurePauseImage(node.name);
  kubeletUp(node);
  kubeProxyUp(node);
  await waitFor(`node ${node.name} Ready`, () => nodeReady(node.name), 120_000, processName(node, 'kubelet'));
  await waitFor(
    `kube-proxy healthz (${node.name})`,
    () => kubeProxyHealthy(node),
    60_000,
    processName(node, 'kube-proxy'),
  );
}

/** The one-node bed (`cluster up --node`). */
export async function nodeUp(): Promise<void> {
  await nodesUp(1);
}

/** `cluster up --nodes N`: node 1 in the machine's network, nodes 2..N in namespaces of their own. */
export async function nodesUp(count: number): Promise<void> {
  if (!Number.isInteger(count) || count < 1 || count > maxNodes)
    throw new Error(`--nodes must be 1..${maxNodes}, got ${count}`);
  const state = readState();
  if (!state) throw new Error('the control plane is not up; run `npm run cluster -- up --node`');
  if (state.hostIP === '127.0.0.1')
    throw new Error('a real node needs root; the control plane was started without it');
  const running = configuredNodeCount();
  if (existsSync(nodeCountFile) && running !== count && runningPid('kubelet') !== undefined)
    throw new Error(
      `the cluster runs ${running} node(s); run \`npm run cluster -- down\` before starting ${count}`,
    );
  const started = Date.now();
  prepareHost();
  mkdirSync(runDir, { recursive: true });
  writeFileSync(nodeCountFile, `${count}\n`);
  // Nodes start one after another: containerd and the kubelet are CPU-heavy while starting.
  for (const node of nodeSpecs(count)) await startNode(node, count === 1);
  log(`${count} node(s) Ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const { corednsUp } = await import('./dns.ts');
  await corednsUp();
}

/** Kills every container of one node's containerd and stops its processes. */
async function stopNode(node: NodeSpec): Promise<void> {
  if (await stopProcess(processName(node, 'kubelet'))) log(`stopped kubelet (${node.name})`);
  if (runningPid(processName(node, 'containerd')) !== undefined) {
    // Stop every container so no workload outlives the node.
    const tasks = ctr(['tasks', 'ls', '-q'], { allowFail: true, node: node.name })
      .split('\n')
      .filter(Boolean);
    for (const t of tasks) ctr(['tasks', 'kill', '-s', 'SIGKILL', t], { allowFail: true, node: node.name });
    await sleep(tasks.length ? 500 : 0);
    for (const t of tasks) ctr(['tasks', 'delete', '-f', t], { allowFail: true, node: node.name });
    if (tasks.length) log(`killed ${tasks.length} container(s) on ${node.name}`);
  }
  if (await stopProcess(processName(node, 'kube-proxy'))) log(`stopped kube-proxy (${node.name})`);
  if (await stopProcess(processName(node, 'containerd'))) log(`stopped containerd (${node.name})`);
}

/** Removes every trace of every node, whether or not its processes are still running. */
export async function nodeDown(): Promise<void> {
  const fromNamespaces = existingNodeNamespaces().map((n) => nodeSpecByName(n)!.index);
  const count = Math.max(configuredNodeCount(), 1, ...fromNamespaces);
  const nodes = nodeSpecs(count);
  for (const node of [...nodes].reverse()) await stopNode(node);
  const { corednsDown } = await import('./dns.ts');
  await corednsDown();
  killOrphanShims();
  unmountUnder(clusterDir);
  for (const node of nodes) {
    unmountUnder(node.containerdState);
    rmSync(node.containerdState, { recursive: true, force: true });
  }
  for (const ns of sh('ip', ['netns', 'list'], { allowFail: true }).split('\n')) {
    const name = ns.split(' ')[0];
    if (name?.startsWith('cni-')) sh('ip', ['netns', 'delete', name], { allowFail: true });
  }
  for (const node of nodes) {
    nodeNetworkDown(node);
    removeNodeCgroup(node);
  }
  sh('ip', ['link', 'delete', cniBridge], { allowFail: true });
  cleanIptables();
  rmSync(nodeCountFile, { force: true });
}

function killOrphanShims(): void {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmd.startsWith('/usr/bin/containerd-shim') && cmd.includes(`${runDir}/containerd`))
        process.kill(Number(entry), 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
}

function unmountUnder(dir: string): void {
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1]?.replace(/\\040/g, ' '))
    .filter((m): m is string => !!m && (m === dir || m.startsWith(dir + '/')))
    // Deepest first.
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) sh('umount', ['-l', m], { allowFail: true });
}

/**
 * Drops the chains and rules kube-proxy and the CNI plugins made (KUBE-*, CNI-*), leaving every
 * other rule of the machine as it was: each table is saved, filtered and restored atomically.
 */
export function cleanIptables(): void {
  for (const [save, restore] of [
    ['iptables-save', 'iptables-restore'],
    ['ip6tables-save', 'ip6tables-restore'],
  ] as const) {
    if (!has(save)) continue;
    for (const table of ['nat', 'filter', 'mangle']) {
      const dump = sh(save, ['-t', table], { allowFail: true });
      if (!/KUBE-|CNI-/.test(dump)) continue;
      const kept = dump
        .split('\n')
        .filter((line) => !/KUBE-|CNI-/.test(line))
        .join('\n');
      sh(restore, ['-T', table], { input: kept + '\n', allowFail: true });
    }
  }
}

export type ComponentStatus = { component: string; pid?: number; healthy: boolean };

/** The components of one node; none when that node was never started. */
export async function nodeStatus(node: NodeSpec = nodeSpec(1)): Promise<ComponentStatus[]> {
  const checks: Record<NodeComponent, () => Promise<boolean>> = {
    containerd: async () => ctr(['version'], { allowFail: true, node: node.name }).includes('Server'),
    kubelet: () => nodeReady(node.name),
    'kube-proxy': () => kubeProxyHealthy(node),
  };
  if (!nodeComponents.some((c) => existsSync(pidFile(processName(node, c))))) return [];
  const out = [];
  for (const c of nodeComponents) {
    const pid = runningPid(processName(node, c));
    out.push({ component: c, pid, healthy: pid !== undefined && (await checks[c]().catch(() => false)) });
  }
  return out;
}

/** Every node the cluster was started with, each with its components. */
export async function nodesStatus(): Promise<{ node: NodeSpec; components: ComponentStatus[] }[]> {
  const out = [];
  for (const node of nodeSpecs(configuredNodeCount())) out.push({ node, components: await nodeStatus(node) });
  return out;
}
