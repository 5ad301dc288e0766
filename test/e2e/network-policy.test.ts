import * as k8s from '@kubernetes/client-node';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helm, kubeconfigPath, kubectl, must, tool } from '../chart/lib.ts';
import { applySamplePair, patchPairSpec, preferMember } from '../chart/live-pair.ts';
import { installOperatorChart } from '../cluster/operator-chart.ts';
import { requestOnNewConnection } from '../support/http.ts';
import { eventually } from '../support/kube.ts';
import { clientServerName, memberServerName, operatorTls, type PairTls } from '../support/pair-tls.ts';

// NetworkPolicy enforced on the real node (the e2e global setup starts the node with
// `--network-policy`: kube-router's firewall). A pair whose spec.networkPolicy admits only pods
// labelled as licence clients to the licence port, and (always) only the other member and the
// operator to the admin (and replication) port:
//   - a pod the policy does not admit is refused at both members' admin port and at the licence
//     port, and the engine's REJECT rule for the member pod counts those packets;
//   - an admitted client pod reaches the licence port (and still not the admin port);
//   - with the policy on (and the chart's policy for the operator's own pods), the operator still
//     probes the members and fails over, and the members replicate: a lease taken before the
//     failover is on the new active member;
//   - the control: once the pair's policy is switched off, the same refused pod reaches the admin port.

const id = randomBytes(3).toString('hex');
const operatorNs = `lpo-e2e-np-${id}`;
const ns = `e2e-netpol-${id}`;
const release = `lpo-np-${id}`;
const PAIR = 'guarded';
const IMAGE = 'license-pair-operator/license-server:0.1.0';
const GROUP = { group: 'lpo.dev', version: 'v1alpha1', plural: 'licenseserverpairs' };
const ADMIN_PORT = 7071;
const LICENCE_PORT = 7070;
const CLIENT_LABEL = { 'e2e.lpo.dev/role': 'licence-client' };

const kcfg = new k8s.KubeConfig();
kcfg.loadFromFile(kubeconfigPath);
const core = kcfg.makeApiClient(k8s.CoreV1Api);
const custom = kcfg.makeApiClient(k8s.CustomObjectsApi);
const networking = kcfg.makeApiClient(k8s.NetworkingV1Api);
const kc = (args: string[], input?: string) =>
  must(tool('kubectl'), ['--kubeconfig', kubeconfigPath, ...args], input === undefined ? {} : { input });

type Status = {
  phase?: string;
  liveMember?: string;
  failoverCount?: number;
  members?: Record<string, { health?: string }>;
  conditions?: { type: string; status: string }[];
};

async function pairStatus(): Promise<Status> {
  const o = (await custom.getNamespacedCustomObject({ ...GROUP, namespace: ns, name: PAIR })) as {
    status?: Status;
  };
  return o.status ?? {};
}

/**
 * Both member pods on the patched spec (applyPair's health check, every second), none leaving: the
 * rollout that the patch starts is over. Between its steps the pair can be Running with both
 * members healthy, and a pod replaced under a test changes its address.
 */
async function rolledOut(): Promise<boolean> {
  const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: `lpo.dev/pair=${PAIR}` })).items;
  return (
    pods.length === 2 &&
    pods.every(
      (p) => !p.metadata?.deletionTimestamp && p.spec?.containers[0]?.readinessProbe?.periodSeconds === 1,
    )
  );
}

/** Ready, both members Healthy, the standby in sync (replication from the active member works), no rollout under way. */
async function settled(): Promise<Status> {
  return eventually(
    'the pair Ready with both members Healthy and the standby in sync',
    async () => {
      const st = await pairStatus();
      const cond = (t: string) => st.conditions?.find((c) => c.type === t)?.status;
      return st.phase === 'Running' &&
        cond('Ready') === 'True' &&
        cond('StandbyReady') === 'True' &&
        st.members?.primary?.health === 'Healthy' &&
        st.members.redundant?.health === 'Healthy' &&
        (await rolledOut())
        ? st
        : undefined;
    },
    240_000,
    250,
  );
}

async function memberPod(member: string): Promise<{ name: string; ip: string }> {
  return eventually(`the ${member} pod with an IP`, async () => {
    const list = await core.listNamespacedPod({
      namespace: ns,
      labelSelector: `lpo.dev/pair=${PAIR},lpo.dev/member=${member}`,
    });
    const p = list.items.find((x) => !x.metadata?.deletionTimestamp && x.status?.podIP);
    return p ? { name: p.metadata!.name!, ip: p.status!.podIP! } : undefined;
  });
}

const other = (m: string) => (m === 'primary' ? 'redundant' : 'primary');

/** A pod that only waits, from the licence-server image (it has node for the probes below). */
function clientPod(name: string, labels: Record<string, string>): string {
  return YAML.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: 'client',
          image: IMAGE,
          imagePullPolicy: 'Never',
          command: ['/usr/local/bin/node', '-e', 'setInterval(() => {}, 3_600_000)'],
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 65532,
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
            seccompProfile: { type: 'RuntimeDefault' },
          },
        },
      ],
    },
  });
}

// One TCP connection from inside a pod: `connected`, the error code (ECONNREFUSED: the engine's
// REJECT answers with an ICMP port unreachable) or `timeout`.
const connectScript = `const s = require('node:net').connect({ host: process.argv[1], port: Number(process.argv[2]), timeout: 3000 });
s.on('connect', () => { console.log('connected'); s.destroy(); });
s.on('timeout', () => { console.log('timeout'); s.destroy(); });
s.on('error', (e) => console.log(e.code || e.message));`;

function connectFrom(pod: string, ip: string, port: number): string {
  return kc(
    ['exec', '-n', ns, pod, '--', '/usr/local/bin/node', '-e', connectScript, ip, String(port)],
    undefined,
  )
    .trim()
    .split('\n')
    .pop()!;
}

/**
 * Packets the engine rejected on their way to `pod`: the counters of kube-router's REJECT rule in
 * the pod's firewall chain (iptables-save -c on the node, which is this machine).
 */
function rejectedPackets(pod: string): number {
  const r = spawnSync('iptables-save', ['-c', '-t', 'filter'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`iptables-save: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.includes(`REJECT traffic destined for POD name:${pod} namespace: ${ns}`))
    .reduce((sum, l) => sum + Number(/^\[(\d+):\d+\]/.exec(l)?.[1] ?? 0), 0);
}

/** Refused from `from` at ip:port, and the engine counted the packet it rejected for `target`. */
async function refused(from: string, target: { name: string; ip: string }, port: number): Promise<string> {
  const before = rejectedPackets(target.name);
  const outcome = await eventually(
    `${from} refused at ${target.name} (${target.ip}:${port})`,
    async () => {
      const o = connectFrom(from, target.ip, port);
      return o !== 'connected' ? o : undefined;
    },
    30_000,
    500,
  );
  expect(rejectedPackets(target.name), `packets rejected for ${target.name}`).toBeGreaterThan(before);
  process.stdout.write(`${from} -> ${target.name} ${target.ip}:${port}: ${outcome}\n`);
  return outcome;
}

async function connects(from: string, target: { name: string; ip: string }, port: number): Promise<void> {
  await eventually(
    `${from} to reach ${target.name} (${target.ip}:${port})`,
    async () => connectFrom(from, target.ip, port) === 'connected',
    60_000,
    500,
  );
  process.stdout.write(`${from} -> ${target.name} ${target.ip}:${port}: connected\n`);
}

async function podRunning(name: string): Promise<void> {
  await eventually(
    `pod ${name} Running`,
    async () => (await core.readNamespacedPod({ namespace: ns, name })).status?.phase === 'Running',
    90_000,
    250,
  );
}

/** The sample pair (its licence signed for it), checked every second, admitting CLIENT_LABEL pods only. */
function applyPair(): void {
  applySamplePair(ns, PAIR);
  patchPairSpec(ns, PAIR, {
    healthCheck: { periodSeconds: 1, failureThreshold: 2 },
    failover: { failback: 'Manual' },
    networkPolicy: { clients: [{ podSelector: { matchLabels: CLIENT_LABEL } }] },
  });
}

let tls: Required<PairTls>;

beforeAll(async () => {
  kc(['create', 'namespace', ns]);
  installOperatorChart(release, operatorNs, [
    'image.pullPolicy=Never',
    `watchNamespaces[0]=${ns}`,
    'replicaCount=1',
    // The operator's own policy too: its egress (DNS, the API server, the members' admin port)
    // and ingress (metrics, health) are enforced while it manages the pair.
    'networkPolicy.enabled=true',
  ]);
  applyPair();
  kc(['apply', '-f', '-'], clientPod('admitted', CLIENT_LABEL));
  kc(['apply', '-f', '-'], clientPod('intruder', { 'e2e.lpo.dev/role': 'intruder' }));
  await Promise.all([podRunning('admitted'), podRunning('intruder'), settled()]);
  tls = await operatorTls(core, operatorNs, ns, PAIR);
});

afterAll(() => {
  kubectl(['delete', 'namespace', ns, '--wait=false']);
  helm(['uninstall', release, '-n', operatorNs, '--wait', '--timeout', '120s']);
  kubectl(['delete', 'namespace', operatorNs, '--wait=false']);
});

describe('NetworkPolicy enforced on the real node', () => {
  it('refuses a pod the policy does not admit at the admin and licence ports; admits the client to the licence port only', async () => {
    const policy = await networking.readNamespacedNetworkPolicy({ namespace: ns, name: PAIR });
    expect(policy.spec?.ingress?.[0]?._from).toEqual([{ podSelector: { matchLabels: CLIENT_LABEL } }]);
    const st = await settled();
    const live = await memberPod(st.liveMember!);
    const standby = await memberPod(other(st.liveMember!));
    expect(await refused('intruder', live, ADMIN_PORT)).toBe('ECONNREFUSED');
    await refused('intruder', standby, ADMIN_PORT);
    await refused('intruder', live, LICENCE_PORT);
    await connects('admitted', live, LICENCE_PORT);
    await refused('admitted', live, ADMIN_PORT);
  });

  it('with the policy on, the operator still probes and fails over, and the members replicate', async () => {
    const operatorPolicies = await networking.listNamespacedNetworkPolicy({ namespace: operatorNs });
    expect(operatorPolicies.items.map((p) => p.spec?.policyTypes)).toEqual([['Ingress', 'Egress']]);
    const st = await settled();
    const svc = await core.readNamespacedService({ namespace: ns, name: PAIR });
    const clientId = `e2e-np-${randomBytes(3).toString('hex')}`;
    const checkout = await requestOnNewConnection(
      `https://${svc.spec!.clusterIP}:${svc.spec!.ports![0]!.port}/v1/checkout`,
      {
        json: { feature: 'synth', clientId, user: 'np', host: 'np-host' },
        timeoutMs: 5000,
        tls: { ca: tls.ca, servername: clientServerName(ns, PAIR) },
      },
    );
    expect(checkout.status, checkout.body).toBe(200);
    // The lease reached the standby over the admin (replication) port before the move.
    await settled();
    const was = st.liveMember!;
    kc(['delete', 'pod', (await memberPod(was)).name, '-n', ns, '--wait=false']);
    const now = await eventually(
      `a live member other than ${was}`,
      async () => {
        const l = (await pairStatus()).liveMember;
        return l && l !== was ? l : undefined;
      },
      120_000,
      250,
    );
    // Failback Manual: the member that took over becomes the preferred one, which moves nothing.
    preferMember(ns, PAIR, now);
    const after = await settled();
    expect(after.failoverCount ?? 0).toBe((st.failoverCount ?? 0) + 1);
    const active = await memberPod(now);
    const token = Buffer.from(
      (await core.readNamespacedSecret({ namespace: ns, name: `${PAIR}-admin-token` })).data!.token!,
      'base64',
    ).toString('utf8');
    const res = await requestOnNewConnection(
      `https://${active.ip}:${ADMIN_PORT}/v1/admin/leases?feature=synth`,
      {
        headers: { authorization: `Bearer ${token}` },
        timeoutMs: 5000,
        tls: { ...tls, servername: memberServerName(ns, PAIR, now) },
      },
    );
    const body = JSON.parse(res.body) as { role: string; leases: { clientId: string }[] };
    expect(body.role).toBe('active');
    expect(body.leases.map((l) => l.clientId)).toContain(clientId);
    // The recreated member is guarded too.
    await refused('intruder', await memberPod(was), ADMIN_PORT);
    await connects('admitted', active, LICENCE_PORT);
  });

  it('control: with the pair’s policy switched off the same pod reaches the admin port', async () => {
    const st = await settled();
    const live = await memberPod(st.liveMember!);
    await refused('intruder', live, ADMIN_PORT);
    patchPairSpec(ns, PAIR, { networkPolicy: { enabled: false } });
    await eventually(
      'the pair’s NetworkPolicy deleted',
      async () => (await networking.listNamespacedNetworkPolicy({ namespace: ns })).items.length === 0,
    );
    await connects('intruder', live, ADMIN_PORT);
  });
});
