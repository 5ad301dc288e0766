import * as k8s from '@kubernetes/client-node';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { helm, kubeconfigPath, kubectl, must, tool } from '../chart/lib.ts';
import { applySamplePair, patchPairSpec, preferMember } from '../chart/live-pair.ts';
import { installOperatorChart } from '../cluster/operator-chart.ts';
import type { AppReport } from '../e2e/fixtures/app-client.ts';
import type { LoadConfig, LoadReport } from '../e2e/load-client.ts';
import { containerHostPid } from '../cluster/node.ts';
import { appPod, appReady, appReport } from './app-pod.ts';
import { eventually } from './kube.ts';
import { operatorTls, type PairTls } from './pair-tls.ts';

/**
 * A pair under load on real nodes, and the invariants every fault scenario checks. The operator is
 * installed by the chart (2 replicas, leader election), watching one namespace with the sample pair
 * in it (failback Manual, so that every fault moves the live member exactly once). A load client
 * in its own process holds 8 of the feature's 8 unreserved seats through the Service's ClusterIP
 * (a 9th client is always refused) and renews every second, while it samples the invariants every
 * 250 ms (see test/e2e/load-client.ts).
 *
 * After each fault, checkAfter() verifies what the product promises:
 *   - the number of moves (status.failoverCount) grew by exactly the number expected (no flapping),
 *   - no lease a client was told it holds was lost, and no client got a second lease,
 *   - seats in use never exceeded the seats licensed, on either member, at any sample,
 *   - the Service never had two ready endpoints and two members were never active in one epoch,
 *     nor both granting,
 *   - the pair comes back to Ready (Running, both members Healthy, the standby in sync), every lease
 *     the clients hold is on the active member, and the clients are served again;
 *   - an application in a pod (test/e2e/fixtures/app-client.ts: the project's LicenseClient on
 *     keep-alive connections to the Service by its cluster DNS name, holding seats and churning
 *     checkouts) saw no error and lost no lease; how long its longest call waited is printed.
 */

export const PAIR = 'eda-tools';
export const FEATURE = 'synth';
const CLIENTS = 9;
/** synth has 10 seats, 2 of them reserved for host lab-01: 8 for the load clients' host. */
const SEATS_FOR_LOAD = 8;
const GROUP = { group: 'lpo.dev', version: 'v1alpha1', plural: 'licenseserverpairs' };
const MIN_SECONDS_BETWEEN_FAILOVERS = 10;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A fault of failoverScenario: the pod's process stops (SIGSTOP on its host pid) and stays up;
 * the undo resumes it, unless it is gone already (the kubelet's liveness probe restarted it).
 */
export function hangProcess(pod: PodInfo): () => void {
  const pid = containerHostPid(pod.containerId!);
  process.kill(pid, 'SIGSTOP');
  return () => {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // Gone already.
    }
  };
}
export const kc = (args: string[], input?: string) =>
  must(tool('kubectl'), ['--kubeconfig', kubeconfigPath, ...args], input === undefined ? {} : { input });

export type PairStatus = {
  phase?: string;
  liveMember?: string;
  failoverCount?: number;
  lastFailover?: { time?: string; reason?: string };
  members?: Record<string, { health?: string }>;
  conditions?: { type: string; status: string }[];
};

export type PodInfo = {
  name: string;
  uid: string;
  restarts: number;
  ip?: string;
  containerId?: string;
  nodeName?: string;
};

const condition = (st: PairStatus, type: string) => st.conditions?.find((c) => c.type === type)?.status;

class Load {
  private proc: ChildProcess;
  private lines: Interface;
  private waiting: ((line: string) => void)[] = [];
  /** `netPid`: run in the network namespace of that process (a pod's), not the machine's. */
  constructor(cfg: LoadConfig, netPid?: number) {
    const argv = [
      fileURLToPath(new URL('../e2e/load-client.ts', import.meta.url)),
      '--run',
      JSON.stringify(cfg),
    ];
    this.proc = netPid
      ? spawn('nsenter', ['-t', String(netPid), '-n', '--', process.execPath, ...argv], {
          stdio: ['pipe', 'pipe', 'inherit'],
        })
      : spawn(process.execPath, argv, { stdio: ['pipe', 'pipe', 'inherit'] });
    this.lines = createInterface({ input: this.proc.stdout! });
    this.lines.on('line', (l) => this.waiting.shift()?.(l));
  }
  private ask(msg: Record<string, unknown>): Promise<string> {
    return new Promise((resolve, reject) => {
      if (this.proc.exitCode !== null) return reject(new Error('the load client exited'));
      this.waiting.push(resolve);
      this.proc.stdin!.write(`${JSON.stringify(msg)}\n`);
    });
  }
  async report(since?: number): Promise<LoadReport> {
    return JSON.parse(await this.ask({ cmd: 'report', ...(since ? { since } : {}) })) as LoadReport;
  }
  /** A member's leases of the load's feature, read by the load client (from where it runs). */
  async leases(
    ip: string,
    member: string,
  ): Promise<{ role: string; leases: { id: string; clientId: string }[] }> {
    const answer = JSON.parse(await this.ask({ cmd: 'leases', ip, member })) as {
      role: string;
      leases: { id: string; clientId: string }[];
    } | null;
    if (!answer) throw new Error(`${member} (${ip}) did not answer /v1/admin/leases`);
    return answer;
  }
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.stdin!.end();
    await exited;
  }
}

export interface FailoverBedOptions {
  /** Namespaces and release are named after it, with a random suffix. */
  ns: string;
  operatorNs: string;
  release: string;
  /** Extra `--set` values of the operator chart. */
  chartSets?: string[];
  /** A merge patch applied to the pair's spec after the sample is applied (failback is Manual). */
  pairSpec?: Record<string, unknown>;
  /**
   * With a pairSpec that changes the member pods: a pod that is on it. The bed waits for both pods
   * to be, and none leaving, before it starts (a rollout can pass for settled between its steps).
   */
  podOnPatchedSpec?: (pod: k8s.V1Pod) => boolean;
  /** The application's client hedges its attempts after this many ms (src/client/hedge.ts). */
  appHedgeAfterMs?: number;
  /** Where the application pod runs (a node no fault hits, on the multi-node bed). */
  appNodeSelector?: Record<string, string>;
  /**
   * Run the load client and its sampler in an operator pod's network, not the machine's: on the
   * multi-node bed the pair's NetworkPolicy lets only the operator and the peer reach a member's
   * admin port on another node, and the sampler reads the members' status there.
   */
  observeFromOperatorPod?: boolean;
}

const APP = 'app-client';
const APP_FEATURE = 'sim';

export class FailoverBed {
  readonly core: k8s.CoreV1Api;
  readonly custom: k8s.CustomObjectsApi;
  readonly coordination: k8s.CoordinationV1Api;
  load!: Load;
  tls!: Required<PairTls>;

  readonly o: FailoverBedOptions;

  constructor(o: FailoverBedOptions) {
    this.o = o;
    const kcfg = new k8s.KubeConfig();
    kcfg.loadFromFile(kubeconfigPath);
    this.core = kcfg.makeApiClient(k8s.CoreV1Api);
    this.custom = kcfg.makeApiClient(k8s.CustomObjectsApi);
    this.coordination = kcfg.makeApiClient(k8s.CoordinationV1Api);
  }

  get ns(): string {
    return this.o.ns;
  }

  async pairStatus(): Promise<PairStatus> {
    const o = (await this.custom.getNamespacedCustomObject({ ...GROUP, namespace: this.ns, name: PAIR })) as {
      status?: PairStatus;
    };
    return o.status ?? {};
  }

  /** Ready, both members Healthy, the standby in sync: the state every scenario must return to. */
  settled(timeoutMs = 240_000): Promise<PairStatus> {
    return eventually(
      'the pair Ready with both members Healthy and the standby in sync',
      async () => {
        const st = await this.pairStatus();
        if (
          st.phase === 'Running' &&
          condition(st, 'Ready') === 'True' &&
          condition(st, 'StandbyReady') === 'True' &&
          st.members?.primary?.health === 'Healthy' &&
          st.members.redundant?.health === 'Healthy'
        )
          return st;
        // What a timeout reports: the last status seen, so a failure in CI says where it stuck.
        throw new Error(`last status: ${JSON.stringify(st)}`);
      },
      timeoutMs,
    );
  }

  async memberPod(member: string): Promise<PodInfo> {
    const list = await this.core.listNamespacedPod({
      namespace: this.ns,
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
      ...(p.spec?.nodeName ? { nodeName: p.spec.nodeName } : {}),
    };
  }

  async start(): Promise<void> {
    kc(['create', 'namespace', this.ns]);
    installOperatorChart(this.o.release, this.o.operatorNs, [
      'image.pullPolicy=Never',
      `watchNamespaces[0]=${this.ns}`,
      ...(this.o.chartSets ?? []),
    ]);
    applySamplePair(this.ns, PAIR);
    patchPairSpec(this.ns, PAIR, { failover: { failback: 'Manual' }, ...this.o.pairSpec });
    await this.settled()
      .then(() => this.rolledOut())
      .then(() => this.settled())
      .catch((err: unknown) => {
        this.dumpForDiagnosis();
        throw err;
      });
    // TLS is on by default: the clients verify the pair's CA; the sampler reads the members' status
    // with the operator's identity.
    this.tls = await operatorTls(this.core, this.o.operatorNs, this.ns, PAIR);
    const svc = await this.core.readNamespacedService({ namespace: this.ns, name: PAIR });
    const netPid = this.o.observeFromOperatorPod ? await this.operatorPodPid() : undefined;
    this.load = new Load(
      {
        tls: this.tls,
        kubeconfig: kubeconfigPath,
        namespace: this.ns,
        pair: PAIR,
        clusterIP: svc.spec!.clusterIP!,
        port: svc.spec!.ports![0]!.port,
        feature: FEATURE,
        clients: CLIENTS,
      },
      netPid,
    );
    this.startApp();
    await eventually(
      'the application pod holding its seats',
      () => appReady(this.core, this.ns, APP),
      120_000,
    );
    await eventually(
      'every load client holding or refused a seat',
      async () => {
        const r = await this.load.report();
        return Object.keys(r.held).length === SEATS_FOR_LOAD && (r.failures['409 NO_SEATS'] ?? 0) > 0;
      },
      60_000,
    );
  }

  /** Both member pods on the patched spec (podOnPatchedSpec), none leaving. */
  private async rolledOut(): Promise<void> {
    const onSpec = this.o.podOnPatchedSpec;
    if (!onSpec) return;
    await eventually(
      'both member pods on the patched spec',
      async () => {
        const pods = (
          await this.core.listNamespacedPod({ namespace: this.ns, labelSelector: `lpo.dev/pair=${PAIR}` })
        ).items;
        return pods.length === 2 && pods.every((p) => !p.metadata?.deletionTimestamp && onSpec(p));
      },
      240_000,
    );
  }

  /** The application pod: 2 holders of `sim` and a churner, through the Service by cluster DNS. */
  private startApp(): void {
    const pod = appPod({
      name: APP,
      namespace: this.ns,
      url: `https://${PAIR}.${this.ns}.svc:7070`,
      caConfigMap: `${PAIR}-ca`,
      feature: APP_FEATURE,
      ...(this.o.appNodeSelector ? { nodeSelector: this.o.appNodeSelector } : {}),
      ...(this.o.appHedgeAfterMs !== undefined ? { hedgeAfterMs: this.o.appHedgeAfterMs } : {}),
    });
    kc(['apply', '-f', '-'], JSON.stringify(pod));
  }

  /** What the application in its pod saw since `since` (ms). */
  appReport(since = 0): Promise<AppReport> {
    return appReport(this.core, this.ns, APP, since);
  }

  /** The pods and the operator's last log lines, printed when the bed cannot start. */
  private dumpForDiagnosis(): void {
    const show = (args: string[]) => {
      const r = kubectl(args);
      process.stdout.write(`$ kubectl ${args.join(' ')}\n${r.stdout}${r.stderr}\n`);
    };
    show(['get', 'pods', '-n', this.ns, '-o', 'wide']);
    show(['get', 'events', '-n', this.ns, '--sort-by=.lastTimestamp']);
    show([
      'logs',
      '-n',
      this.o.operatorNs,
      '-l',
      'app.kubernetes.io/name=license-pair-operator',
      '--tail=80',
      '--prefix',
    ]);
  }

  async stop(): Promise<void> {
    await this.load?.stop();
    kubectl(['delete', 'namespace', this.ns, '--wait=false']);
    helm(['uninstall', this.o.release, '-n', this.o.operatorNs, '--wait', '--timeout', '120s']);
    kubectl(['delete', 'namespace', this.o.operatorNs, '--wait=false']);
  }

  /** The host pid of an operator pod's container: its network is the one the policy admits. */
  private async operatorPodPid(): Promise<number> {
    const pods = await this.core.listNamespacedPod({ namespace: this.o.operatorNs });
    const pod = pods.items.find((p) => p.status?.containerStatuses?.[0]?.state?.running);
    const cid = pod?.status?.containerStatuses?.[0]?.containerID?.replace(/^containerd:\/\//, '');
    if (!pod || !cid) throw new Error(`no running operator pod in ${this.o.operatorNs}`);
    return containerHostPid(cid, pod.spec!.nodeName!);
  }

  /** Every lease the clients hold is on the active member, under the same id. */
  async leasesOnActive(live: string): Promise<{ held: string[]; onActive: string[] }> {
    const pod = await this.memberPod(live);
    const body = await this.load.leases(pod.ip!, live);
    expect(body.role).toBe('active');
    const r = await this.load.report();
    return {
      held: Object.values(r.held).sort(),
      onActive: body.leases
        .filter((l) => l.clientId.startsWith('e2e-load-'))
        .map((l) => l.id)
        .sort(),
    };
  }

  /** The invariants after a scenario that began at `began`; `before` is the failoverCount before it. */
  async checkAfter(
    scenario: string,
    began: number,
    before: number,
    expectedMoves: number,
  ): Promise<PairStatus> {
    const first = await this.load.report();
    const st = await this.settled();
    // The clients are served again (renewals succeed after the pair settled).
    const since = Date.now();
    await eventually(
      'the clients served again',
      async () => (await this.load.report()).lastOkAt > since + 1000,
      60_000,
    );
    // A late extra move would show up here: give the operator a moment to (wrongly) flap.
    await sleep(3000);
    const final = await this.settled();
    expect(final.failoverCount ?? 0, 'moves of the live member').toBe(before + expectedMoves);
    const r = await this.load.report(began);
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
    const { held, onActive } = await this.leasesOnActive(final.liveMember!);
    expect(onActive).toEqual(held);
    const app = await this.appReport(began);
    process.stdout.write(
      `${scenario}: application in a pod: longest call ${(app.longestCallMs / 1000).toFixed(2)} s, ` +
        `longest stall ${(app.longestStallMs / 1000).toFixed(2)} s, ` +
        `${app.calls} calls and ${app.renewals} renewals, ${app.errors.length} errors\n`,
    );
    expect(app.errors, 'errors the application saw').toEqual([]);
    expect(Object.keys(app.held), 'seats the application holds').toHaveLength(2);
    expect(app.calls).toBeGreaterThan(0);
    return st;
  }

  /** Waits out failover.minSecondsBetweenFailovers after the last move (real faults are not seconds apart). */
  async spacedFromLastMove(st: PairStatus): Promise<void> {
    const last = Date.parse(st.lastFailover?.time ?? '') || 0;
    await sleep(Math.max(0, last + (MIN_SECONDS_BETWEEN_FAILOVERS + 1) * 1000 - Date.now()));
  }

  waitLive(not: string, timeoutMs = 120_000): Promise<string> {
    return eventually(
      `a live member other than ${not}`,
      async () => {
        const live = (await this.pairStatus()).liveMember;
        return live && live !== not ? live : undefined;
      },
      timeoutMs,
    );
  }

  /**
   * Injects a fault into the live member and checks the failover it must cause. `inject` returns
   * what undoes the fault; it runs once the other member is live.
   */
  async failoverScenario(
    scenario: string,
    inject: (live: string, pod: PodInfo) => Promise<() => void | Promise<void>>,
  ): Promise<void> {
    const st = await this.settled();
    await this.spacedFromLastMove(st);
    const live = st.liveMember!;
    const pod = await this.memberPod(live);
    const began = Date.now();
    const undo = await inject(live, pod);
    let now: string;
    try {
      now = await this.waitLive(live);
    } finally {
      await undo();
    }
    // Manual failback: the member that took over is made the preferred one, which moves nothing.
    preferMember(this.ns, PAIR, now);
    await this.checkAfter(scenario, began, st.failoverCount ?? 0, 1);
  }
}
