import * as k8s from '@kubernetes/client-node';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helm, kubeconfigPath, kubectl, must, tool } from '../chart/lib.ts';
import { applySamplePair, preferMember } from '../chart/live-pair.ts';
import { containerHostPid, killContainer } from '../cluster/node.ts';
import { requestOnNewConnection } from '../support/http.ts';
import { memberServerName, operatorTls, type PairTls } from '../support/pair-tls.ts';
import { eventually } from '../support/kube.ts';
import { installOperatorChart } from '../cluster/operator-chart.ts';
import type { LoadConfig, LoadReport } from './load-client.ts';

// Failover under load on the real node. The operator is installed by the chart (2 replicas, leader
// election), watching one namespace with the sample pair in it (failback Manual, so that every
// fault moves the live member exactly once). A load client in its own process holds 8 of the
// feature's 8 unreserved seats through the Service's ClusterIP (a 9th client is always refused) and
// renews every second, while it samples the invariants every 250 ms (see load-client.ts).
//
// Each scenario injects one fault and then checks what the product promises:
//   - the number of moves (status.failoverCount) grew by exactly the number expected (no flapping),
//   - no lease a client was told it holds was lost, and no client got a second lease,
//   - seats in use never exceeded the seats licensed, on either member, at any sample,
//   - the Service never had two ready endpoints and two members were never active in one epoch,
//   - the pair comes back to Ready (Running, both members Healthy, the standby in sync), every lease
//     the clients hold is on the active member, and the clients are served again.

const id = randomBytes(3).toString('hex');
const operatorNs = `lpo-e2e-fo-${id}`;
const ns = `e2e-failover-${id}`;
const release = `lpo-fo-${id}`;
const PAIR = 'eda-tools';
const FEATURE = 'synth';
const CLIENTS = 9;
/** synth has 10 seats, 2 of them reserved for host lab-01: 8 for the load clients' host. */
const SEATS_FOR_LOAD = 8;
const GROUP = { group: 'lpo.dev', version: 'v1alpha1', plural: 'licenseserverpairs' };
const MIN_SECONDS_BETWEEN_FAILOVERS = 10;

const kcfg = new k8s.KubeConfig();
kcfg.loadFromFile(kubeconfigPath);
const core = kcfg.makeApiClient(k8s.CoreV1Api);
const custom = kcfg.makeApiClient(k8s.CustomObjectsApi);
const coordination = kcfg.makeApiClient(k8s.CoordinationV1Api);
const kc = (args: string[]) => must(tool('kubectl'), ['--kubeconfig', kubeconfigPath, ...args]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type PairStatus = {
  phase?: string;
  liveMember?: string;
  failoverCount?: number;
  lastFailover?: { time?: string; reason?: string };
  members?: Record<string, { health?: string }>;
  conditions?: { type: string; status: string }[];
};

async function pairStatus(): Promise<PairStatus> {
  const o = (await custom.getNamespacedCustomObject({ ...GROUP, namespace: ns, name: PAIR })) as {
    status?: PairStatus;
  };
  return o.status ?? {};
}

const condition = (st: PairStatus, type: string) => st.conditions?.find((c) => c.type === type)?.status;

/** Ready, both members Healthy, the standby in sync: the state every scenario must return to. */
async function settled(): Promise<PairStatus> {
  return eventually(
    'the pair Ready with both members Healthy and the standby in sync',
    async () => {
      const st = await pairStatus();
      return st.phase === 'Running' &&
        condition(st, 'Ready') === 'True' &&
        condition(st, 'StandbyReady') === 'True' &&
        st.members?.primary?.health === 'Healthy' &&
        st.members.redundant?.health === 'Healthy'
        ? st
        : undefined;
    },
    240_000,
  );
}

type PodInfo = { name: string; uid: string; restarts: number; ip?: string; containerId?: string };
async function memberPod(member: string): Promise<PodInfo> {
  const list = await core.listNamespacedPod({
    namespace: ns,
    labelSelector: `lpo.dev/pair=${PAIR},lpo.dev/member=${member}`,
  });
  const p = list.items.find((x) => !x.metadata?.deletionTimestamp);
  if (!p) throw new Error(`no pod for ${member}`);
  const cid = p.status?.containerStatuses?.[0]?.containerID?.replace(/^containerd:\/\//, '');
  return {
    name: p.metadata!.name!,
    uid: p.metadata!.uid!,
    restarts: p.status?.containerStatuses?.[0]?.restartCount ?? 0,
    ...(p.status?.podIP ? { ip: p.status.podIP } : {}),
    ...(cid ? { containerId: cid } : {}),
  };
}

class Load {
  private proc: ChildProcess;
  private lines: Interface;
  private waiting: ((r: LoadReport) => void)[] = [];
  constructor(cfg: LoadConfig) {
    this.proc = spawn(
      process.execPath,
      [fileURLToPath(new URL('./load-client.ts', import.meta.url)), '--run', JSON.stringify(cfg)],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    this.lines = createInterface({ input: this.proc.stdout! });
    this.lines.on('line', (l) => this.waiting.shift()?.(JSON.parse(l) as LoadReport));
  }
  report(since?: number): Promise<LoadReport> {
    return new Promise((resolve, reject) => {
      if (this.proc.exitCode !== null) return reject(new Error('the load client exited'));
      this.waiting.push(resolve);
      this.proc.stdin!.write(`${JSON.stringify({ cmd: 'report', ...(since ? { since } : {}) })}\n`);
    });
  }
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.stdin!.end();
    await exited;
  }
}

let load: Load;
let tls: Required<PairTls>;

/** Every lease the clients hold is on the active member, under the same id. */
async function leasesOnActive(live: string): Promise<{ held: string[]; onActive: string[] }> {
  const secret = await core.readNamespacedSecret({ namespace: ns, name: `${PAIR}-admin-token` });
  const token = Buffer.from(secret.data!.token!, 'base64').toString('utf8');
  const pod = await memberPod(live);
  const res = await requestOnNewConnection(`https://${pod.ip}:7071/v1/admin/leases?feature=${FEATURE}`, {
    headers: { authorization: `Bearer ${token}` },
    timeoutMs: 5000,
    tls: { ...tls, servername: memberServerName(ns, PAIR, live) },
  });
  const body = JSON.parse(res.body) as { role: string; leases: { id: string; clientId: string }[] };
  expect(body.role).toBe('active');
  const r = await load.report();
  return {
    held: Object.values(r.held).sort(),
    onActive: body.leases
      .filter((l) => l.clientId.startsWith('e2e-load-'))
      .map((l) => l.id)
      .sort(),
  };
}

/** The invariants after a scenario that began at `began`; `before` is the failoverCount before it. */
async function checkAfter(
  scenario: string,
  began: number,
  before: number,
  expectedMoves: number,
): Promise<PairStatus> {
  const first = await load.report();
  const st = await settled();
  // The clients are served again (renewals succeed after the pair settled).
  const since = Date.now();
  await eventually(
    'the clients served again',
    async () => (await load.report()).lastOkAt > since + 1000,
    60_000,
  );
  // A late extra move would show up here: give the operator a moment to (wrongly) flap.
  await sleep(3000);
  const final = await settled();
  expect(final.failoverCount ?? 0, 'moves of the live member').toBe(before + expectedMoves);
  const r = await load.report(began);
  process.stdout.write(
    `${scenario}: client-observed outage ${r.longestGapSeconds.toFixed(2)} s; ${r.samples - first.samples} invariant samples\n`,
  );
  // The sampler really looked: members answered and the Service had its one endpoint.
  expect(r.statusAnswers).toBeGreaterThan(first.statusAnswers);
  expect(r.oneEndpoint).toBeGreaterThan(first.oneEndpoint);
  expect(r.lost, 'leases the server forgot').toEqual([]);
  for (const [client, ids] of Object.entries(r.granted))
    expect(ids, `leases granted to ${client}`).toHaveLength(1);
  expect(r.seatViolations, 'samples with more seats in use than licensed').toEqual([]);
  expect(r.multipleEndpoints, 'samples with two ready endpoints').toEqual([]);
  expect(r.twoActive, 'samples with two members active in one epoch').toEqual([]);
  expect(r.twoGranting, 'samples with two members granting').toEqual([]);
  expect(Object.keys(r.held)).toHaveLength(SEATS_FOR_LOAD);
  expect(r.maxInUse).toBe(SEATS_FOR_LOAD);
  const { held, onActive } = await leasesOnActive(final.liveMember!);
  expect(onActive).toEqual(held);
  return st;
}

/** Waits out failover.minSecondsBetweenFailovers after the last move (real faults are not seconds apart). */
async function spacedFromLastMove(st: PairStatus): Promise<void> {
  const last = Date.parse(st.lastFailover?.time ?? '') || 0;
  await sleep(Math.max(0, last + (MIN_SECONDS_BETWEEN_FAILOVERS + 1) * 1000 - Date.now()));
}

async function waitLive(not: string): Promise<string> {
  return eventually(
    `a live member other than ${not}`,
    async () => {
      const live = (await pairStatus()).liveMember;
      return live && live !== not ? live : undefined;
    },
    120_000,
  );
}

beforeAll(async () => {
  kc(['create', 'namespace', ns]);
  installOperatorChart(release, operatorNs, ['image.pullPolicy=Never', `watchNamespaces[0]=${ns}`]);
  applySamplePair(ns, PAIR);
  kc([
    'patch',
    'lsp',
    PAIR,
    '-n',
    ns,
    '--type',
    'merge',
    '-p',
    '{"spec":{"failover":{"failback":"Manual"}}}',
  ]);
  await settled();
  // TLS is on by default: the clients verify the pair's CA; the sampler reads the members' status
  // with the operator's identity.
  tls = await operatorTls(core, operatorNs, ns, PAIR);
  const svc = await core.readNamespacedService({ namespace: ns, name: PAIR });
  load = new Load({
    tls,
    kubeconfig: kubeconfigPath,
    namespace: ns,
    pair: PAIR,
    clusterIP: svc.spec!.clusterIP!,
    port: svc.spec!.ports![0]!.port,
    feature: FEATURE,
    clients: CLIENTS,
  });
  await eventually(
    'every load client holding or refused a seat',
    async () => {
      const r = await load.report();
      return Object.keys(r.held).length === SEATS_FOR_LOAD && (r.failures['409 NO_SEATS'] ?? 0) > 0;
    },
    60_000,
  );
});

afterAll(async () => {
  await load?.stop();
  kubectl(['delete', 'namespace', ns, '--wait=false']);
  helm(['uninstall', release, '-n', operatorNs, '--wait', '--timeout', '120s']);
  kubectl(['delete', 'namespace', operatorNs, '--wait=false']);
});

/** Injects a fault into the live member and checks the failover it must cause. */
async function failoverScenario(
  scenario: string,
  inject: (live: string, pod: PodInfo) => Promise<() => void>,
): Promise<void> {
  const st = await settled();
  await spacedFromLastMove(st);
  const live = st.liveMember!;
  const pod = await memberPod(live);
  const began = Date.now();
  const undo = await inject(live, pod);
  let now: string;
  try {
    now = await waitLive(live);
  } finally {
    undo();
  }
  // Manual failback: the member that took over is made the preferred one, which moves nothing.
  preferMember(ns, PAIR, now);
  await checkAfter(scenario, began, st.failoverCount ?? 0, 1);
}

describe('failover under load on a real node', () => {
  it('the live container is killed', async () => {
    await failoverScenario('live container killed', async (_live, pod) => {
      killContainer(pod.containerId!);
      return () => undefined;
    });
  });

  it('the live pod is deleted', async () => {
    await failoverScenario('live pod deleted', async (_live, pod) => {
      kc(['delete', 'pod', pod.name, '-n', ns, '--wait=false']);
      return () => undefined;
    });
  });

  it('the live process hangs (stops answering but stays up)', async () => {
    await failoverScenario('live process hung', async (_live, pod) => {
      const pid = containerHostPid(pod.containerId!);
      process.kill(pid, 'SIGSTOP');
      return () => {
        try {
          process.kill(pid, 'SIGCONT');
        } catch {
          // Gone already (the kubelet's liveness probe restarted it).
        }
      };
    });
  });

  it('the live pod is cut off from its peer and the operator, clients on its side still reaching it', async () => {
    // Clients on the isolated side talk to the pod directly (the load client follows the Service)
    // and check out the `layout` feature (not the load's): a grant there once the other member
    // may grant would be the split brain the serving rules prevent.
    const isolatedGrants: number[] = [];
    let isolatedRefusals = 0;
    let cutAt = 0;
    await failoverScenario('live pod partitioned', async (live, pod) => {
      const peer = await memberPod(live === 'primary' ? 'redundant' : 'primary');
      const operators = await core.listNamespacedPod({ namespace: operatorNs });
      const cut = [
        peer.ip!,
        ...operators.items.map((p) => p.status?.podIP).filter((ip): ip is string => !!ip),
      ];
      const pid = containerHostPid(pod.containerId!);
      const inPod = (args: string[]) => must('nsenter', ['-t', String(pid), '-n', 'iptables', '-w', ...args]);
      for (const ip of cut) {
        inPod(['-I', 'INPUT', '-s', ip, '-j', 'DROP']);
        inPod(['-I', 'OUTPUT', '-d', ip, '-j', 'DROP']);
      }
      cutAt = Date.now();
      let stop = false;
      void (async () => {
        for (let i = 0; !stop; i++) {
          try {
            const r = await requestOnNewConnection(`https://${pod.ip}:7070/v1/checkout`, {
              json: { feature: 'layout', clientId: `isolated-${i}`, user: 'isolated', host: 'lab-01' },
              timeoutMs: 1500,
              tls: { ca: tls.ca, servername: memberServerName(ns, PAIR, live) },
            });
            if (r.status === 200) isolatedGrants.push(Date.now());
            else if (r.body.includes('NO_QUORUM')) isolatedRefusals++;
          } catch {
            // the pod may not answer at all for a moment
          }
          await sleep(200);
        }
      })();
      return () => {
        stop = true;
        inPod(['-F', 'INPUT']);
        inPod(['-F', 'OUTPUT']);
      };
    });
    const st = await pairStatus();
    const movedAt = Date.parse(st.lastFailover?.time ?? '');
    expect(movedAt).toBeGreaterThan(cutAt - 1000);
    // The isolated member stopped granting before the operator moved the pair (its peer right
    // lapses within a second of its standby's last acknowledgement; PeerLost needs a second of silence).
    expect(isolatedGrants.filter((t) => t > movedAt)).toEqual([]);
    expect(isolatedRefusals).toBeGreaterThan(0);
  });

  it('the operator leader is killed during a failover', async () => {
    await failoverScenario('operator leader killed during a failover', async (_live, pod) => {
      const lease = await coordination.readNamespacedLease({
        namespace: operatorNs,
        name: 'license-pair-operator-leader',
      });
      const leaderPod = await core.readNamespacedPod({
        namespace: operatorNs,
        name: lease.spec!.holderIdentity!,
      });
      const leaderContainer = leaderPod.status!.containerStatuses![0]!.containerID!.replace(
        /^containerd:\/\//,
        '',
      );
      kc(['delete', 'pod', pod.name, '-n', ns, '--wait=false']);
      killContainer(leaderContainer);
      return () => undefined;
    });
  });

  it('the standby is killed and comes back: no move, the standby resyncs', async () => {
    const st = await settled();
    const live = st.liveMember!;
    const standby = live === 'primary' ? 'redundant' : 'primary';
    const pod = await memberPod(standby);
    const began = Date.now();
    killContainer(pod.containerId!);
    await eventually(
      'the standby container restarted',
      async () => {
        const p = await core.readNamespacedPod({ namespace: ns, name: pod.name });
        return (p.status?.containerStatuses?.[0]?.restartCount ?? 0) > pod.restarts;
      },
      60_000,
    );
    const after = await checkAfter('standby killed', began, st.failoverCount ?? 0, 0);
    expect(after.liveMember).toBe(live);
  });

  it('a planned switchover, then a failback', async () => {
    for (let i = 0; i < 2; i++) {
      const st = await settled();
      await spacedFromLastMove(st);
      const live = st.liveMember!;
      const to = live === 'primary' ? 'redundant' : 'primary';
      const began = Date.now();
      preferMember(ns, PAIR, to);
      expect(await waitLive(live)).toBe(to);
      await checkAfter(i === 0 ? 'switchover' : 'failback', began, st.failoverCount ?? 0, 1);
    }
  });
});
