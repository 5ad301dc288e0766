import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { binLinkDir, clusterDir, kubeconfigPath, net, repoRoot } from './config.ts';
import { readState } from './control-plane.ts';
import { aptInstall, dropIptablesLines, hasCommand, sh } from './host-shell.ts';
import { inNodeNet } from './node-spec.ts';
import { ensureCert, kubeconfigFor } from './pki.ts';
import { log, portInUse, runningPid, startProcess, stopProcess, waitFor } from './processes.ts';

/**
 * NetworkPolicy enforcement for a node: the bridge CNI enforces nothing, so kube-router's
 * firewall (its network policy controller only: no BGP routing, no service proxy, no CNI) runs
 * for the node as a host process, built from source (test/cluster/build.sh kube-router). It
 * watches pods, namespaces and NetworkPolicies and writes iptables chains (KUBE-ROUTER-INPUT,
 * -FORWARD, -OUTPUT, KUBE-POD-FW-*, KUBE-NWPLCY-*) and ipsets (KUBE-SRC-*, KUBE-DST-*) that filter
 * the traffic of the node's pods; bridged pod-to-pod traffic is seen through br_netfilter.
 *
 * A node in a network namespace of its own gets its engine inside that namespace
 * (`nsenter --net`, keeping the host's mount namespace), where its rules and ipsets live and die
 * with the namespace.
 */

export interface PolicyNode {
  name: string;
  netns?: string;
}

/** The group every node's engine certificate carries; the ClusterRoleBinding names it. */
const group = 'lpo:network-policy';
const clusterRole = 'lpo:network-policy';
/** Metrics (and so the health check) on the node's loopback only; off the machine's network. */
const metricsPort = Number(process.env.LPO_NETWORK_POLICY_METRICS_PORT ?? 20245);

export const processName = (node: PolicyNode): string => `network-policy-${node.name}`;

/** The built kube-router binary (build.sh caches it by version, like the other components). */
export function engineBinary(): string {
  const override = process.env.LPO_K8S_BIN_DIR;
  if (override && existsSync(path.join(override, 'kube-router'))) return path.join(override, 'kube-router');
  const dir = execFileSync(
    'bash',
    [
      '-c',
      `source "${path.join(repoRoot, 'test/cluster/versions.sh')}" && ` +
        'echo "$LPO_CACHE_DIR/kube-router-$KUBE_ROUTER_MODULE_VERSION"',
    ],
    { encoding: 'utf8' },
  ).trim();
  return path.join(dir, 'kube-router');
}

/** kube-router runs the `ipset` command (Debian's package) for its sets. */
function ensureIpset(): void {
  if (hasCommand('ipset')) return;
  log('installing the Debian package ipset (kube-router manages its sets with it)');
  aptInstall(['ipset']);
}

/**
 * Least privilege: what kube-router's informers list and watch (it starts the Service and
 * EndpointSlice informers even with only the firewall on) and its read of its own Node object.
 */
function rbacManifest(): string {
  return `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: ${clusterRole}
  labels: {app.kubernetes.io/managed-by: license-pair-operator.local-cluster}
rules:
- apiGroups: [""]
  resources: [pods, namespaces, services]
  verbs: [list, watch]
- apiGroups: [""]
  resources: [nodes]
  verbs: [get, list, watch]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: ${clusterRole}
  labels: {app.kubernetes.io/managed-by: license-pair-operator.local-cluster}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: ${clusterRole}
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: Group
  name: ${group}
`;
}

/** A client certificate per node (CN lpo:network-policy:<node>, O lpo:network-policy) and its kubeconfig. */
function ensureIdentity(node: PolicyNode, apiserverURL: string): string {
  const cert = `network-policy-${node.name}`;
  ensureCert({ name: cert, cn: `${group}:${node.name}`, org: group, usage: 'client' });
  const file = path.join(clusterDir, `${cert}.kubeconfig`);
  writeFileSync(file, kubeconfigFor(cert, apiserverURL, `${group}:${node.name}`), { mode: 0o600 });
  const r = spawnSync(
    path.join(binLinkDir, 'kubectl'),
    ['--kubeconfig', kubeconfigPath, 'apply', '-f', '-'],
    {
      input: rbacManifest(),
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) throw new Error(`could not create the engine's RBAC: ${r.stderr}`);
  return file;
}

/**
 * kube-router's metrics, read where they listen (the node's loopback). Undefined while nothing
 * answers. A node in its own network namespace is read through nsenter with this Node.js.
 */
function readMetrics(node: PolicyNode): string | undefined {
  const url = `http://127.0.0.1:${metricsPort}/metrics`;
  const script = `fetch(${JSON.stringify(url)}).then(async (r) => { if (!r.ok) process.exit(1); process.stdout.write(await r.text()); }, () => process.exit(1))`;
  const [cmd, args] = inNodeNet(node, process.execPath, ['-e', script]);
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? r.stdout : undefined;
}

/** Full syncs of the policy rules done (kube-router observes one sample per iptables sync). */
function policySyncs(node: PolicyNode): number {
  const m = /^kube_router_controller_iptables_sync_time_count (\d+)/m.exec(readMetrics(node) ?? '');
  return m ? Number(m[1]) : 0;
}

/** Running and has written the node's policy rules at least once. */
export function networkPolicyHealthy(node: PolicyNode): boolean {
  return runningPid(processName(node)) !== undefined && policySyncs(node) > 0;
}

export async function networkPolicyUp(node: PolicyNode): Promise<void> {
  const name = processName(node);
  if (runningPid(name) !== undefined && networkPolicyHealthy(node)) return;
  const state = readState();
  if (!state)
    throw new Error('the control plane is not up; run `npm run cluster -- up --node --network-policy`');
  if (process.getuid?.() !== 0) throw new Error('the NetworkPolicy engine needs root (iptables, ipset)');
  const bin = engineBinary();
  if (!existsSync(bin))
    throw new Error(`${bin} is missing; build it with \`npm run cluster -- build kube-router\``);
  ensureIpset();
  await stopProcess(name);
  if (!node.netns && (await portInUse('127.0.0.1', metricsPort)))
    throw new Error(
      `127.0.0.1:${metricsPort} (the engine's metrics) is taken; set LPO_NETWORK_POLICY_METRICS_PORT to a free port`,
    );
  const kubeconfig = ensureIdentity(node, state.apiserverURL);
  const args = [
    `--kubeconfig=${kubeconfig}`,
    `--hostname-override=${node.name}`,
    '--run-firewall=true',
    '--run-router=false',
    '--run-service-proxy=false',
    '--run-loadbalancer=false',
    '--enable-cni=false',
    '--enable-ipv4=true',
    '--enable-ipv6=false',
    `--service-cluster-ip-range=${net.serviceCIDR}`,
    // Pod and policy events sync at once; the periodic full sync (default 5 min) is what repairs
    // an event missed or applied late. Tests create pods and move them between nodes by the
    // dozen: a stale set would refuse a new pod's peer for minutes.
    '--iptables-sync-period=15s',
    // Its health server would listen on every address of the machine: off; health is read from
    // the metrics, on loopback.
    '--health-port=0',
    '--metrics-addr=127.0.0.1',
    `--metrics-port=${metricsPort}`,
    '--v=1',
  ];
  const [cmd, cmdArgs] = inNodeNet(node, bin, args);
  log(
    `starting the NetworkPolicy engine for ${node.name} (kube-router firewall${node.netns ? `, netns ${node.netns}` : ''})`,
  );
  const started = Date.now();
  startProcess(name, cmd, cmdArgs);
  await waitFor(
    `the NetworkPolicy engine of ${node.name} to write its rules`,
    async () => policySyncs(node) > 0,
    90_000,
    name,
  );
  log(`NetworkPolicy engine for ${node.name} enforcing in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/**
 * Chains, rules and ipsets kube-router's firewall makes (pod.go, policy.go,
 * network_policy_controller.go): its chains, the jumps to them, and the ACCEPT of marked traffic it
 * puts in INPUT, FORWARD and OUTPUT (comment "KUBE-ROUTER rule to explicitly ACCEPT ...").
 */
const ownChain = /KUBE-ROUTER|KUBE-POD-FW-|KUBE-NWPLCY-|kube-router netpol/;
const ownSet = /^KUBE-(SRC|DST)-/;

/**
 * Drops kube-router's chains, the jumps to them and its ipsets, leaving every other rule of the
 * machine as it was. Sets go after the rules that use them.
 */
function cleanEngineRules(): void {
  dropIptablesLines(ownChain, ['filter']);
  if (!hasCommand('ipset')) return;
  const sets = sh('ipset', ['list', '-n'], { allowFail: true })
    .split('\n')
    .filter((s) => ownSet.test(s));
  for (const s of sets) sh('ipset', ['destroy', s], { allowFail: true });
  const left = sh('ipset', ['list', '-n'], { allowFail: true })
    .split('\n')
    .filter((s) => ownSet.test(s));
  if (left.length) log(`could not destroy ipset(s) ${left.join(' ')}`);
}

export async function networkPolicyDown(node: PolicyNode): Promise<void> {
  if (await stopProcess(processName(node))) log(`stopped the NetworkPolicy engine of ${node.name}`);
  // A node in its own network namespace takes its rules and sets with it when that is deleted.
  if (!node.netns) cleanEngineRules();
}
