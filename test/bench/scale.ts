// Scale benchmark: one operator, many LicenseServerPairs on the local control plane, kwok playing
// the nodes and kubelets. Prints:
//   - time for all pairs to converge from an empty cluster (phase Running, client Service on the live member);
//   - the operator's RSS and CPU, API requests per second (reads/watches vs writes), reconciles and
//     work-queue adds at steady state;
//   - detection-to-switch p50/p99 of pairs failing one by one while the others are healthy, against
//     the same measurement for a single pair (the ratio is the point);
//   - an operator restart (as a new leader): time until every member is checked again, and the
//     writes and lists it costs;
//   - 100 pairs failing at once: when the last one switched, queue depth and latency;
//   - a soak of several minutes: RSS and heap trend.
// Health checks stay real: kwok gives each fake node a pod CIDR inside POD_RANGE, which the
// benchmark routes to this host itself (`ip route add local … dev lo`), and one responder process
// (scale-responder.ts) answers the health contract for every member address; it can make chosen
// members hang.
//
// Run:
//   npm run bench -- scale [--pairs 1000] [--soak-minutes 10]
//   quick: --pairs 200 --soak-minutes 1 --failovers 10 --burst 50 --single-rounds 5
import * as k8s from '@kubernetes/client-node';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { Informer } from '../../src/kube/informer.ts';
import { find, must, render, tool } from '../chart/lib.ts';
import { kubeconfigPath, repoRoot } from '../cluster/config.ts';
import { controlPlaneComponents, controlPlaneStatus } from '../cluster/control-plane.ts';
import { bundle } from '../cluster/images.ts';
import { kwokDown, kwokUp } from '../cluster/kwok.ts';
import { runningPid, tail } from '../cluster/processes.ts';
import { clientsFor, type Kube } from '../support/clients.ts';
import { OperatorProcess, ensureCrd, freePort } from '../support/operator.ts';

const args = process.argv.slice(2);
const num = (n: string, d: number) => {
  const i = args.indexOf(`--${n}`);
  return i >= 0 ? Number(args[i + 1]) : d;
};
const PAIRS = num('pairs', 1000);
const SOAK_MINUTES = num('soak-minutes', 10);
const FAILOVERS = num('failovers', 30);
const BURST = Math.min(num('burst', 100), Math.max(0, PAIRS - FAILOVERS));
const SINGLE_ROUNDS = num('single-rounds', 10);
const RESTART = num('restart', 1) > 0;
const NODES = num('nodes', 4);
const STEADY_SECONDS = num('steady-seconds', 60);
const CONVERGE_TIMEOUT_S = num('converge-timeout', 300);
// Concurrent reconciles of the operator (MAX_CONCURRENT_RECONCILES); 0: its default.
const WORKERS = num('workers', 0);
const PAIRS_PER_NS = 100;
const FAULT = (() => {
  const i = args.indexOf('--fault');
  return (i >= 0 ? args[i + 1] : 'hang') as 'hang' | 'unhealthy' | 'refuse';
})();

const GROUP = { group: 'lpo.dev', version: 'v1alpha1', plural: 'licenseserverpairs' };
// The fake nodes' pod addresses: a local route makes every address in it this host's own, so
// health checks reach the responder without leaving the host. Not loopback addresses: the
// endpoints controller may not put those in an Endpoints object, and its retries and Events for
// every member Service would be work a real cluster does not do.
const POD_RANGE = '10.192.0.0/12';
const podCidr = (node: number) => `10.${192 + node}.0.0/16`;
const NODE_LABEL = 'lpo.dev/scale-bench';
const NS_PREFIX = 'lpo-scale-';
const HEALTH = { periodSeconds: 2, timeoutSeconds: 1, failureThreshold: 3, successThreshold: 2 };

const started = Date.now();
function say(msg: string): void {
  process.stdout.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(5)} s] ${msg}\n`);
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
};
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');

async function until<T>(what: string, f: () => Promise<T | undefined | false>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await f().catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    await sleep(100);
  }
  throw new Error(`timed out after ${ms / 1000} s: ${what}`);
}

/** Runs `fn` over `items` with at most `n` at once. */
async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (i < items.length) await fn(items[i++]!);
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// The responder: one process for every member address.

interface ResponderStats {
  requests: number;
  members: number;
  hung: number;
  /** Members asked anything since the last mark(). */
  seen: number;
}

class Responder {
  private child: ChildProcess | undefined;
  port = 0;
  /** First request each failed member received (the operator's first failing check), by address. */
  readonly hungAt = new Map<string, number>();
  private statsWaiter: ((s: ResponderStats) => void) | undefined;

  async start(): Promise<void> {
    const port = await freePort('0.0.0.0');
    const child = spawn(
      path.join(repoRoot, 'node_modules/.bin/node'),
      [path.join(repoRoot, 'test/bench/scale-responder.ts')],
      {
        env: { PATH: process.env.PATH ?? '', RESPONDER_PORT: String(port) },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      },
    );
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`responder exited with ${code}`)));
      child.on('message', (m: { type: string; port?: number; ip?: string; at?: number }) => {
        if (m.type === 'listening') {
          this.port = m.port!;
          resolve();
        } else if (m.type === 'hung-request') {
          if (!this.hungAt.has(m.ip!)) this.hungAt.set(m.ip!, m.at!);
        } else if (m.type === 'stats') {
          this.statsWaiter?.(m as never);
        }
      });
    });
  }

  fail(ips: string[]): void {
    for (const ip of ips) this.hungAt.delete(ip);
    this.child?.send({ type: 'fail', ips, mode: FAULT });
  }

  recover(ips: string[]): void {
    this.child?.send({ type: 'recover', ips });
  }

  reset(): void {
    this.hungAt.clear();
    this.child?.send({ type: 'reset' });
  }

  /** From now on, count the members asked anything (ResponderStats.seen). */
  mark(): void {
    this.child?.send({ type: 'mark' });
  }

  stats(): Promise<ResponderStats> {
    return new Promise((r) => {
      this.statsWaiter = r;
      this.child?.send({ type: 'stats' });
    });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  stop(): void {
    this.child?.kill('SIGKILL');
  }
}

// ---------------------------------------------------------------------------------------------
// Watching from outside the operator. Watches, not polling: listing a thousand pairs every two
// seconds would load the API server the benchmark measures.

const benchLog = pino({ level: 'warn', base: { component: 'scale-bench' } });

/** The project's own informer (list, watch, relist on errors), telling `record` of every object seen. */
function watchAll<T extends k8s.KubernetesObject>(
  k: Kube,
  what: { apiVersion: string; kind: string; path: string; labelSelector?: string },
  record: (obj: T) => void = () => undefined,
): Informer<T> {
  const inf = new Informer<T>({ kc: k.kc, ...what, resyncMs: 24 * 3_600_000, log: benchLog });
  inf.on({ add: record, update: (_old, obj) => record(obj) });
  return inf;
}

/** When each client Service switched, as seen from outside the operator. */
class ServiceWatch {
  /** ns/name → [member selected, when seen] in arrival order. */
  readonly history = new Map<string, { member: string; at: number }[]>();
  private readonly watch: Informer<k8s.V1Service>;

  constructor(k: Kube) {
    this.watch = watchAll<k8s.V1Service>(
      k,
      {
        apiVersion: 'v1',
        kind: 'Service',
        path: '/api/v1/services',
        labelSelector: 'app.kubernetes.io/managed-by=license-pair-operator',
      },
      (s) => this.record(s),
    );
  }

  current(key: string): string | undefined {
    return this.history.get(key)?.at(-1)?.member;
  }

  /** When the Service of `key` first selected `member` after `since`. */
  switchedAt(key: string, member: string, since: number): number | undefined {
    return this.history.get(key)?.find((e) => e.at >= since && e.member === member)?.at;
  }

  /** Called with each client Service's key after its selected member changed. */
  onSwitch: (key: string) => void = () => undefined;

  private record(svc: k8s.V1Service): void {
    const ns = svc.metadata?.namespace ?? '';
    const name = svc.metadata?.name ?? '';
    const pair = svc.metadata?.labels?.['lpo.dev/pair'];
    if (!ns.startsWith(NS_PREFIX) || name !== pair) return;
    const member = svc.spec?.selector?.['lpo.dev/member'] ?? '';
    const key = `${ns}/${name}`;
    const h = this.history.get(key) ?? [];
    if (h.at(-1)?.member === member) return;
    h.push({ member, at: Date.now() });
    if (h.length > 20) h.splice(0, h.length - 20);
    this.history.set(key, h);
    this.onSwitch(key);
  }

  start = () => this.watch.start();
  stop = () => this.watch.stop();
}

// ---------------------------------------------------------------------------------------------
// The operator's process and metrics.

function procCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100;
}

/** Resident memory: all of it, anonymous pages (heaps, malloc) and file pages (the Node binary). */
function procMemMiB(pid: number): { rss: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
  return {
    rss: kb('VmRSS') / 1024,
    anon: kb('RssAnon') / 1024,
    file: (kb('RssFile') + kb('RssShmem')) / 1024,
  };
}

const procRssMiB = (pid: number) => procMemMiB(pid).rss;

/**
 * The operator runs with the memory settings its chart gives it: NODE_OPTIONS and MALLOC_ARENA_MAX
 * of the Deployment `helm template` renders, so the memory figures are what an installation gets.
 * --heap-limit-mib and --malloc-arena-max set those chart values (0: Node's or glibc's default),
 * --node-options adds flags (e.g. "--heapsnapshot-signal=SIGUSR2"). Renders with the local
 * cluster's helm: call it once the cluster is up.
 */
function operatorMemoryEnv(): Record<string, string> {
  const sets: string[] = [];
  if (args.includes('--heap-limit-mib')) sets.push(`heapLimitMiB=${num('heap-limit-mib', 0)}`);
  if (args.includes('--malloc-arena-max')) sets.push(`mallocArenaMax=${num('malloc-arena-max', 0)}`);
  const deployment = find(render(sets), 'Deployment') as unknown as k8s.V1Deployment;
  const chartEnv = deployment.spec!.template.spec!.containers[0]!.env ?? [];
  const value = (name: string) => chartEnv.find((e) => e.name === name)?.value ?? '';
  const i = args.indexOf('--node-options');
  const nodeOptions = [value('NODE_OPTIONS'), i >= 0 ? (args[i + 1] ?? '') : ''].filter(Boolean).join(' ');
  const arenas = value('MALLOC_ARENA_MAX');
  return {
    ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}),
    ...(arenas ? { MALLOC_ARENA_MAX: arenas } : {}),
  };
}

type Samples = Map<string, number>;

function parseMetrics(text: string): Samples {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** Sum of the samples of `name` whose labels match `filter`. */
function sum(s: Samples, name: string, filter: (labels: string) => boolean = () => true): number {
  let total = 0;
  for (const [k, v] of s) {
    const brace = k.indexOf('{');
    const n = brace < 0 ? k : k.slice(0, brace);
    if (n === name && filter(brace < 0 ? '' : k.slice(brace))) total += v;
  }
  return total;
}

/** A quantile from the difference of two scrapes of a histogram (linear within the bucket). */
function histQuantile(a: Samples, b: Samples, name: string, q: number): number {
  const buckets: { le: number; n: number }[] = [];
  for (const [k, v] of b) {
    if (!k.startsWith(`${name}_bucket{`)) continue;
    const le = /le="([^"]+)"/.exec(k)?.[1];
    if (!le) continue;
    buckets.push({ le: le === '+Inf' ? Infinity : Number(le), n: v - (a.get(k) ?? 0) });
  }
  buckets.sort((x, y) => x.le - y.le);
  const total = buckets.at(-1)?.n ?? 0;
  if (total <= 0) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevN = 0;
  for (const bk of buckets) {
    if (bk.n >= rank) {
      if (bk.le === Infinity) return prevLe;
      return prevLe + ((bk.le - prevLe) * (rank - prevN)) / Math.max(1, bk.n - prevN);
    }
    prevLe = bk.le;
    prevN = bk.n;
  }
  return NaN;
}

interface Snapshot {
  at: number;
  cpu: number;
  /** Resident MiB: all, anonymous, file pages. */
  rss: number;
  anon: number;
  file: number;
  m: Samples;
}

async function snapshot(op: OperatorProcess): Promise<Snapshot> {
  const pid = op.child!.pid!;
  return {
    at: Date.now(),
    cpu: procCpuSeconds(pid),
    ...procMemMiB(pid),
    m: parseMetrics(await op.metrics()),
  };
}

const isRead = (l: string) => /method="GET"/.test(l);
const isWrite = (l: string) => !/method="GET"/.test(l);

interface Rates {
  seconds: number;
  cpuPercent: number;
  readsPerSecond: number;
  writesPerMinute: number;
  operatorWritesPerMinute: number;
  reconcilesPerSecond: number;
  addsPerSecond: number;
  probesPerSecond: number;
  /** Reconciles asked for per second, by what asked (lpo_reconcile_triggers_total). */
  triggers: string;
}

function rates(a: Snapshot, b: Snapshot): Rates {
  const s = (b.at - a.at) / 1000;
  const d = (name: string, f?: (l: string) => boolean) => sum(b.m, name, f) - sum(a.m, name, f);
  return {
    seconds: s,
    cpuPercent: ((b.cpu - a.cpu) / s) * 100,
    readsPerSecond: d('rest_client_requests_total', isRead) / s,
    writesPerMinute: (d('rest_client_requests_total', isWrite) / s) * 60,
    operatorWritesPerMinute: (d('lpo_api_writes_total') / s) * 60,
    reconcilesPerSecond: d('controller_runtime_reconcile_total') / s,
    addsPerSecond: d('workqueue_adds_total') / s,
    probesPerSecond: d('lpo_probe_duration_seconds_count') / s,
    triggers:
      [...new Set([...b.m.keys()].filter((k) => k.startsWith('lpo_reconcile_triggers_total{')))]
        .map((k) => ({
          source: /source="([^"]+)"/.exec(k)?.[1] ?? '?',
          rate: ((b.m.get(k) ?? 0) - (a.m.get(k) ?? 0)) / s,
        }))
        .filter((t) => t.rate > 0)
        .sort((x, y) => y.rate - x.rate)
        .map((t) => `${t.source} ${t.rate.toFixed(2)}/s`)
        .join(', ') || 'none',
  };
}

// ---------------------------------------------------------------------------------------------
// Pairs.

interface PairStatusView {
  phase?: string;
  liveMember?: string;
  members?: Record<string, { health?: string; podIP?: string; role?: string }>;
  lastFailover?: { detectionSeconds?: number };
}

function pairSpec(adminPort: number) {
  return {
    server: {
      license: { secretName: 'unused' },
      ports: { licences: adminPort === 17070 ? 17071 : 17070, admin: adminPort, metrics: 17072 },
    },
    placement: { nodeSelector: { [NODE_LABEL]: 'true' } },
    healthCheck: HEALTH,
    failover: { failback: 'Manual', minSecondsBetweenFailovers: 0 },
    // The stand-in members (scale-responder.ts) speak plaintext: this bench measures the control
    // loop, not TLS (certificate issuance for a thousand pairs is measured on its own).
    tls: { mode: 'Disabled' },
  };
}

async function createPair(k: Kube, ns: string, name: string, adminPort: number): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await k.custom.createNamespacedCustomObject({
        ...GROUP,
        namespace: ns,
        body: {
          apiVersion: 'lpo.dev/v1alpha1',
          kind: 'LicenseServerPair',
          metadata: { name },
          spec: pairSpec(adminPort),
        },
      });
      return;
    } catch (err) {
      if ((err as { code?: number }).code === 409) return;
      if (attempt >= 5) throw err;
      await sleep(500 * (attempt + 1));
    }
  }
}

async function readPairStatus(k: Kube, key: string): Promise<PairStatusView> {
  const [namespace, name] = key.split('/') as [string, string];
  const r = (await k.custom.getNamespacedCustomObject({ ...GROUP, namespace, name })) as {
    status?: PairStatusView;
  };
  return r.status ?? {};
}

// Phase is Running or FailedOver (failback is Manual here): what counts is that both members are healthy.
const bothHealthy = (st: PairStatusView) =>
  !!st.liveMember && st.members?.primary?.health === 'Healthy' && st.members.redundant?.health === 'Healthy';

interface FailoverSample {
  key: string;
  /** From the operator's first failing check of the live member to the Service on the other member. */
  detectionToSwitch: number;
  /** From the fault to the Service on the other member. */
  faultToSwitch: number;
  /** What the operator wrote in status.lastFailover.detectionSeconds. */
  reportedDetection: number;
}

/**
 * Makes the live member of each pair fail at once and waits until each Service moved to the other
 * member; recovers the failed members afterwards. Pairs that did not switch within the timeout are
 * returned in `missed`.
 */
async function failLive(
  k: Kube,
  responder: Responder,
  services: ServiceWatch,
  keys: string[],
  timeoutMs: number,
): Promise<{ samples: FailoverSample[]; missed: string[]; lastSwitch: number; t0: number }> {
  const targets: { key: string; from: string; to: string; ip: string }[] = [];
  for (const key of keys) {
    const st = await readPairStatus(k, key);
    const from = services.current(key) ?? st.liveMember ?? '';
    const to = from === 'primary' ? 'redundant' : 'primary';
    const ip = st.members?.[from]?.podIP;
    if (!ip || (from !== 'primary' && from !== 'redundant')) continue;
    targets.push({ key, from, to, ip });
  }
  const t0 = Date.now();
  responder.fail(targets.map((t) => t.ip));
  const samples: FailoverSample[] = [];
  const missed: string[] = [];
  let lastSwitch = t0;
  const deadline = t0 + timeoutMs;
  const pending = new Set(targets);
  while (pending.size > 0 && Date.now() < deadline) {
    for (const t of [...pending]) {
      const at = services.switchedAt(t.key, t.to, t0);
      if (at === undefined) continue;
      pending.delete(t);
      responder.recover([t.ip]);
      lastSwitch = Math.max(lastSwitch, at);
      const hung = responder.hungAt.get(t.ip);
      samples.push({
        key: t.key,
        detectionToSwitch: hung !== undefined ? (at - hung) / 1000 - HEALTH.timeoutSeconds : NaN,
        faultToSwitch: (at - t0) / 1000,
        reportedDetection: NaN,
      });
    }
    await sleep(50);
  }
  for (const t of pending) {
    missed.push(t.key);
    responder.recover([t.ip]);
  }
  await pool(samples, 8, async (s) => {
    s.reportedDetection =
      (await readPairStatus(k, s.key).catch(() => ({}) as PairStatusView)).lastFailover?.detectionSeconds ??
      NaN;
  });
  return { samples, missed, lastSwitch, t0 };
}

async function waitHealthy(k: Kube, keys: string[], timeoutMs: number): Promise<number> {
  const end = Date.now() + timeoutMs;
  let left = keys;
  while (left.length > 0 && Date.now() < end) {
    const next: string[] = [];
    await pool(left, 8, async (key) => {
      const st = await readPairStatus(k, key).catch(() => ({}) as PairStatusView);
      if (!bothHealthy(st)) next.push(key);
    });
    left = next;
    if (left.length > 0) await sleep(1000);
  }
  return left.length;
}

// ---------------------------------------------------------------------------------------------

const kubectl = (args: string[]) => must(tool('kubectl'), ['--kubeconfig', kubeconfigPath, ...args]);

/** Requests the API server has answered (apiserver_request_total): all, writes, and writes by verb and resource. */
function apiServerRequests(): { all: number; writes: number; byResource: Map<string, number> } {
  let all = 0;
  let writes = 0;
  const byResource = new Map<string, number>();
  for (const [k, v] of parseMetrics(kubectl(['get', '--raw', '/metrics']))) {
    if (!k.startsWith('apiserver_request_total{')) continue;
    all += v;
    const verb = /verb="(POST|PUT|PATCH|APPLY|DELETE|DELETECOLLECTION)"/.exec(k)?.[1];
    if (!verb) continue;
    writes += v;
    const resource = /resource="([^"]*)"/.exec(k)?.[1] ?? '?';
    const sub = /subresource="([^"]+)"/.exec(k)?.[1];
    const what = `${verb} ${resource}${sub ? `/${sub}` : ''}`;
    byResource.set(what, (byResource.get(what) ?? 0) + v);
  }
  return { all, writes, byResource };
}

/**
 * Waits until the control plane has stopped writing (lease renewals aside): deleting a previous
 * run's thousand pairs leaves kube-controller-manager work for minutes (its endpoints controller
 * deletes every Endpoints object again at its 20 requests/s), which a new run would otherwise
 * share the machine with. Bounded; returns the last rate seen.
 */
async function quietControlPlane(maxSeconds: number): Promise<number> {
  const busyWrites = (m: Map<string, number>) =>
    [...m].filter(([what]) => what !== 'PUT leases').reduce((a, [, n]) => a + n, 0);
  const end = Date.now() + maxSeconds * 1000;
  let rate = Infinity;
  while (Date.now() < end) {
    const a = apiServerRequests().byResource;
    await sleep(5000);
    const b = apiServerRequests().byResource;
    rate = (busyWrites(b) - busyWrites(a)) / 5;
    if (rate < 1) return rate;
    say(
      `waiting for a quiet control plane: ${rate.toFixed(1)} writes/s (per second: ${writesByResource(a, b, 5)})`,
    );
  }
  return rate;
}

/** The machine's CPU time so far, from /proc/stat (clock ticks): busy, stolen by the hypervisor, all. */
function machineCpu(): { busy: number; steal: number; all: number } {
  // user nice system idle iowait irq softirq steal
  const t = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const at = (i: number) => t[i] ?? 0;
  return {
    busy: at(0) + at(1) + at(2) + at(5) + at(6),
    steal: at(7),
    all: t.reduce((a, b) => a + b, 0),
  };
}

/** Busy and stolen shares of the machine's CPU between two readings. */
function machineShare(a: ReturnType<typeof machineCpu>, b: ReturnType<typeof machineCpu>): string {
  const all = b.all - a.all || 1;
  return `machine ${(((b.busy - a.busy) / all) * 100).toFixed(0)} % busy, ${(((b.steal - a.steal) / all) * 100).toFixed(0)} % stolen`;
}

/**
 * The writes between two readings by verb and resource, each divided by `per` (pairs, seconds),
 * largest first.
 */
function writesByResource(a: Map<string, number>, b: Map<string, number>, per: number): string {
  return [...b]
    .map(([what, n]) => ({ what, share: (n - (a.get(what) ?? 0)) / per }))
    .filter((x) => x.share >= 0.05)
    .sort((x, y) => y.share - x.share)
    .map((x) => `${x.what} ${x.share.toFixed(1)}`)
    .join(', ');
}

/** CPU seconds used so far by each process of the cluster, the operator's included. */
const CLUSTER_PROCESSES = ['kube-apiserver', 'etcd', 'kube-controller-manager', 'kube-scheduler', 'kwok'];
function clusterCpu(operatorPid: number, responderPid: number | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const name of CLUSTER_PROCESSES) {
    const pid = runningPid(name);
    if (pid !== undefined) out.set(name, procCpuSeconds(pid));
  }
  out.set('operator', procCpuSeconds(operatorPid));
  // The benchmark's own share: the responder answers every health check, this process watches.
  if (responderPid !== undefined) out.set('responder', procCpuSeconds(responderPid));
  const own = process.cpuUsage();
  out.set('benchmark', (own.user + own.system) / 1e6);
  return out;
}

function cpuShares(a: Map<string, number>, b: Map<string, number>, seconds: number): string {
  return [...b]
    .map(([name, cpu]) => ({ name, pct: ((cpu - (a.get(name) ?? cpu)) / seconds) * 100 }))
    .sort((x, y) => y.pct - x.pct)
    .map((x) => `${x.name} ${x.pct.toFixed(0)} %`)
    .join(', ');
}

function cluster(args: string[]): void {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'test/cluster/cluster.ts'), ...args], {
    stdio: 'inherit',
  });
  if (r.status !== 0) throw new Error(`cluster ${args.join(' ')} failed`);
}

async function createNodes(k: Kube): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < NODES; i++) {
    const name = `lpo-scale-node-${i}`;
    names.push(name);
    await k.core
      .createNode({
        body: {
          metadata: {
            name,
            annotations: { 'kwok.x-k8s.io/node': 'fake' },
            labels: { [NODE_LABEL]: 'true', 'kubernetes.io/hostname': name, type: 'kwok' },
          },
          // Pod addresses in POD_RANGE, routed to this host: reachable without leaving it.
          spec: { podCIDR: podCidr(i), podCIDRs: [podCidr(i)] },
          status: {
            allocatable: { cpu: '64', memory: '256Gi', pods: '2000' },
            capacity: { cpu: '64', memory: '256Gi', pods: '2000' },
          },
        },
      })
      .catch((err: { code?: number }) => {
        if (err.code !== 409) throw err;
      });
  }
  await until(
    'fake nodes Ready',
    async () => {
      for (const name of names) {
        const n = await k.core.readNode({ name });
        if (!n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) return false;
      }
      return true;
    },
    60_000,
  );
  return names;
}

/**
 * A control-plane process that dies mid-run shows up only as a timeout or pairs that never
 * converge, and its log goes with the cluster's state when the benchmark stops a cluster it
 * started: name it and print the end of its log while it is still there.
 */
function reportStoppedClusterProcesses(): void {
  for (const name of [...controlPlaneComponents, 'kwok'])
    if (runningPid(name) === undefined) say(`${name} is not running; the end of its log:\n${tail(name, 30)}`);
}

interface Report {
  lines: string[];
  targets: { name: string; target: string; value: string; met: boolean }[];
}

async function main(): Promise<void> {
  const report: Report = { lines: [], targets: [] };
  const out = (l: string) => report.lines.push(l);
  const rows = await controlPlaneStatus().catch(() => []);
  const reuseCluster = rows.length > 0 && rows.every((r) => r.healthy);
  const reuseKwok = runningPid('kwok') !== undefined;
  // The kubeconfig exists once the control plane runs: start it before making clients.
  if (!reuseCluster) cluster(['up']);
  process.env.KUBECONFIG = kubeconfigPath;
  const k = clientsFor(kubeconfigPath);
  const responder = new Responder();
  const services = new ServiceWatch(k);
  // When each pair was first served (status names a live member and its Service selects it),
  // taken as the watch event arrives: sampling every few seconds would add up to a period.
  const served = new Map<string, number>();
  let servedSince: number | undefined;
  const checkServed = (key: string) => {
    if (servedSince === undefined || served.has(key)) return;
    const live = pairWatch.get(key)?.status?.liveMember;
    if (live && services.current(key) === live) served.set(key, Date.now());
  };
  const pairWatch = watchAll<k8s.KubernetesObject & { status?: PairStatusView }>(
    k,
    {
      apiVersion: `${GROUP.group}/${GROUP.version}`,
      kind: 'LicenseServerPair',
      path: `/apis/${GROUP.group}/${GROUP.version}/${GROUP.plural}`,
    },
    (p) => checkServed(`${p.metadata?.namespace}/${p.metadata?.name}`),
  );
  services.onSwitch = checkServed;
  let operator: OperatorProcess | undefined;
  let nodes: string[] = [];
  const namespaces = Array.from({ length: Math.ceil(PAIRS / PAIRS_PER_NS) }, (_, i) => `${NS_PREFIX}${i}`);
  const singleNs = `${NS_PREFIX}single`;

  let routed = false;
  let cleaning: Promise<void> | undefined;
  const cleanup = () => (cleaning ??= doCleanup());
  const doCleanup = async () => {
    say('cleaning up');
    services.stop();
    pairWatch.stop();
    await operator?.stop().catch(() => undefined);
    for (const ns of [singleNs, ...namespaces])
      await k.core.deleteNamespace({ name: ns }).catch(() => undefined);
    // kwok finalises the fake pods, so the namespaces can go before the nodes and kwok do.
    await until(
      'bench namespaces deleted',
      async () => {
        const list = await k.core.listNamespace();
        return !list.items.some((n) => n.metadata?.name?.startsWith(NS_PREFIX));
      },
      180_000,
    ).catch((err) => say(String(err)));
    for (const name of nodes) await k.core.deleteNode({ name }).catch(() => undefined);
    responder.stop();
    if (routed) {
      try {
        must('ip', ['route', 'del', 'local', POD_RANGE, 'dev', 'lo']);
      } catch (err) {
        say(String(err));
      }
    }
    if (!reuseKwok) await kwokDown().catch(() => undefined);
    if (!reuseCluster) cluster(['down']);
  };
  const onSignal = () => {
    void cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    if (NODES > 16) throw new Error(`--nodes ${NODES}: at most 16 (the pod range ${POD_RANGE} has 16 /16s)`);
    // Needs root, as the local node does.
    must('ip', ['route', 'replace', 'local', POD_RANGE, 'dev', 'lo']);
    routed = true;
    await kwokUp();
    await ensureCrd(kubectl);
    await responder.start();
    say(`responder answering the health contract for every member on port ${responder.port}`);
    nodes = await createNodes(k);
    say(`${nodes.length} kwok nodes Ready (pod CIDRs ${podCidr(0)} …, routed to this host)`);
    await services.start();
    pairWatch.start();
    const memoryEnv = operatorMemoryEnv();
    // The operator as its image runs it: one esbuild bundle on plain Node (running the sources
    // through type stripping adds the stripper's own memory to the RSS).
    const bundleFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'lpo-scale-')), 'main.mjs');
    bundle(path.join(repoRoot, 'src/operator/main.ts'), bundleFile);
    const newOperator = () =>
      new OperatorProcess(
        {
          LEADER_ELECT: 'false',
          LOG_LEVEL: 'info',
          ...(WORKERS > 0 ? { MAX_CONCURRENT_RECONCILES: String(WORKERS) } : {}),
          ...memoryEnv,
        },
        'scale-operator',
        bundleFile,
      );
    operator = newOperator();
    await operator.start();
    let pid = operator.child!.pid!;
    say(
      `operator running (pid ${pid}, log ${operator.logFile}` +
        `${Object.entries(memoryEnv)
          .map(([name, v]) => `, ${name} ${v}`)
          .join('')})`,
    );

    // ---- single pair: the reference figure --------------------------------------------------
    await k.core.createNamespace({ body: { metadata: { name: singleNs } } });
    await until(
      'default ServiceAccount',
      async () =>
        (await k.core.readNamespacedServiceAccount({ namespace: singleNs, name: 'default' })) && true,
      60_000,
    );
    await createPair(k, singleNs, 'single', responder.port);
    const singleKey = `${singleNs}/single`;
    await until(
      'single pair Running',
      async () => {
        const st = await readPairStatus(k, singleKey);
        return bothHealthy(st) && services.current(singleKey) === st.liveMember;
      },
      120_000,
    );
    const single: FailoverSample[] = [];
    for (let i = 0; i < SINGLE_ROUNDS; i++) {
      // Start each fault at a random point of the check period, as faults come.
      await sleep(Math.random() * HEALTH.periodSeconds * 1000);
      const r = await failLive(k, responder, services, [singleKey], 60_000);
      single.push(...r.samples);
      const s = r.samples[0];
      say(
        `single pair round ${i + 1}/${SINGLE_ROUNDS}: ` +
          (s
            ? `detection-to-switch ${f2(s.detectionToSwitch)} s, fault-to-switch ${f2(s.faultToSwitch)} s`
            : 'did not switch'),
      );
      await waitHealthy(k, [singleKey], 60_000);
    }
    await k.core.deleteNamespace({ name: singleNs }).catch(() => undefined);
    await until(
      'single-pair namespace gone',
      async () => !(await k.core.listNamespace()).items.some((n) => n.metadata?.name === singleNs),
      120_000,
    ).catch((err) => say(String(err)));
    responder.reset();

    // ---- converge ---------------------------------------------------------------------------
    for (const ns of namespaces) await k.core.createNamespace({ body: { metadata: { name: ns } } });
    await pool(namespaces, 4, async (ns) => {
      await until(
        `default ServiceAccount in ${ns}`,
        async () => (await k.core.readNamespacedServiceAccount({ namespace: ns, name: 'default' })) && true,
        60_000,
      );
    });
    const keys = Array.from(
      { length: PAIRS },
      (_, i) => `${namespaces[Math.floor(i / PAIRS_PER_NS)]}/p-${String(i).padStart(4, '0')}`,
    );
    const quietRate = await quietControlPlane(300);
    // A busy neighbour on a shared host shows as CPU stolen while this machine is idle.
    const idle0 = machineCpu();
    await sleep(5000);
    const idleShare = machineShare(idle0, machineCpu());
    say(`control plane quiet (${quietRate.toFixed(1)} writes/s); idle: ${idleShare}`);
    const beforeConverge = await snapshot(operator);
    const apiBefore = apiServerRequests();
    const cpuBefore = clusterCpu(pid, responder.pid);
    const machineBefore = machineCpu();
    say(`creating ${PAIRS} pairs in ${namespaces.length} namespaces`);
    const t0 = Date.now();
    servedSince = t0;
    let created = 0;
    const creating = pool(keys, 16, async (key) => {
      const [ns, name] = key.split('/') as [string, string];
      await createPair(k, ns, name, responder.port);
      created++;
    });
    const benchKeys = new Set(keys);
    const servedCount = () => [...served.keys()].filter((key) => benchKeys.has(key)).length;
    let convergedAt: number | undefined;
    let maxDepth = 0;
    let maxRss = 0;
    let lastPrint = 0;
    while (Date.now() - t0 < CONVERGE_TIMEOUT_S * 1000) {
      await sleep(1000);
      const converged = servedCount();
      if (converged === PAIRS) {
        convergedAt = Math.max(...keys.map((key) => served.get(key)!));
        break;
      }
      if (Date.now() - lastPrint < 5000) continue;
      lastPrint = Date.now();
      const running = keys.filter((key) => pairWatch.get(key)?.status?.phase === 'Running').length;
      const depth = sum(parseMetrics(await operator.metrics()), 'workqueue_depth');
      maxDepth = Math.max(maxDepth, depth);
      const rss = procRssMiB(pid);
      maxRss = Math.max(maxRss, rss);
      say(
        `converging: created ${created}, Running ${running}, Service on live member ${converged}/${PAIRS}, ` +
          `queue depth ${depth}, RSS ${rss.toFixed(0)} MiB`,
      );
    }
    await creating;
    const afterConverge = await snapshot(operator);
    const apiAfter = apiServerRequests();
    const cpuAfter = clusterCpu(pid, responder.pid);
    const machineAfter = machineCpu();
    const convergeSeconds = convergedAt ? (convergedAt - t0) / 1000 : NaN;
    const cr = rates(beforeConverge, afterConverge);
    out(
      `converge: ${PAIRS} pairs (${2 * PAIRS} pods) from creation to Running with the Service on the live member`,
    );
    out(
      `  time ${convergedAt ? `${f2(convergeSeconds)} s` : `not converged in ${CONVERGE_TIMEOUT_S} s (${servedCount()}/${PAIRS})`}; ` +
        `operator CPU ${cr.cpuPercent.toFixed(0)} % of a core, peak RSS ${maxRss.toFixed(0)} MiB, ` +
        `max queue depth ${maxDepth}, API reads ${cr.readsPerSecond.toFixed(1)}/s, writes ${(cr.writesPerMinute / 60).toFixed(1)}/s`,
    );
    if (!convergedAt) reportStoppedClusterProcesses();
    const servedAfter = keys.flatMap((key) => (served.has(key) ? [(served.get(key)! - t0) / 1000] : []));
    out(
      `  pairs served after (from the first creation, as the watch events arrived): p10 ${f2(pct(servedAfter, 10))} s, ` +
        `p50 ${f2(pct(servedAfter, 50))} s, p90 ${f2(pct(servedAfter, 90))} s, last ${f2(Math.max(...servedAfter))} s`,
    );
    out(
      `  queue latency p50 ${f2(histQuantile(beforeConverge.m, afterConverge.m, 'workqueue_queue_duration_seconds', 0.5))} s ` +
        `p99 ${f2(histQuantile(beforeConverge.m, afterConverge.m, 'workqueue_queue_duration_seconds', 0.99))} s; ` +
        `reconcile p50 ${f2(histQuantile(beforeConverge.m, afterConverge.m, 'workqueue_work_duration_seconds', 0.5))} s ` +
        `p99 ${f2(histQuantile(beforeConverge.m, afterConverge.m, 'workqueue_work_duration_seconds', 0.99))} s`,
    );
    report.targets.push({
      name: `${PAIRS} pairs converge`,
      target: '< 60 s',
      value: convergedAt ? `${f2(convergeSeconds)} s` : `not converged (${servedCount()}/${PAIRS})`,
      met: convergeSeconds < 60,
    });
    // Where the machine's CPU went: on one small machine the API server, etcd, the controllers
    // and kwok share the cores with the operator.
    const convergeWall = (afterConverge.at - beforeConverge.at) / 1000;
    out(
      `  API server answered ${(apiAfter.all - apiBefore.all).toFixed(0)} requests ` +
        `(${(apiAfter.writes - apiBefore.writes).toFixed(0)} writes, ${((apiAfter.writes - apiBefore.writes) / PAIRS).toFixed(1)} per pair; ` +
        `the operator's ${(sum(afterConverge.m, 'lpo_api_writes_total') - sum(beforeConverge.m, 'lpo_api_writes_total')).toFixed(0)}); ` +
        `CPU ${cpuShares(cpuBefore, cpuAfter, convergeWall)}`,
    );
    out(
      `  ${machineShare(machineBefore, machineAfter)} (before the pairs, idle: ${idleShare}; ` +
        `control plane at ${quietRate.toFixed(1)} writes/s)`,
    );
    out(
      `  writes per pair by verb and resource: ${writesByResource(apiBefore.byResource, apiAfter.byResource, PAIRS)}`,
    );
    out(
      `  per pair: ${((cr.reconcilesPerSecond * cr.seconds) / PAIRS).toFixed(1)} reconciles, ` +
        `${((cr.probesPerSecond * cr.seconds) / PAIRS).toFixed(1)} health checks; reconciles asked for by: ${cr.triggers}`,
    );
    for (const l of report.lines.slice(-8)) say(l);

    // ---- steady state -----------------------------------------------------------------------
    say('letting the pairs settle for 20 s');
    await sleep(20_000);
    say(`measuring steady state for ${STEADY_SECONDS} s`);
    const rStats0 = await responder.stats();
    const s0 = await snapshot(operator);
    const rssSamples: number[] = [];
    for (let t = 0; t < STEADY_SECONDS; t += 5) {
      await sleep(5000);
      rssSamples.push(procRssMiB(pid));
    }
    const s1 = await snapshot(operator);
    const rStats1 = await responder.stats();
    const st = rates(s0, s1);
    const steadyRss = Math.max(...rssSamples);
    out(`steady state (${STEADY_SECONDS} s, ${PAIRS} healthy pairs, checks every ${HEALTH.periodSeconds} s)`);
    out(
      `  operator RSS ${s1.rss.toFixed(0)} MiB (max ${steadyRss.toFixed(0)}), heap used ${(sum(s1.m, 'nodejs_heap_size_used_bytes') / 2 ** 20).toFixed(0)} MiB, ` +
        `CPU ${st.cpuPercent.toFixed(1)} % of a core`,
    );
    out(
      `  API requests: reads/watches ${st.readsPerSecond.toFixed(2)}/s, writes ${st.writesPerMinute.toFixed(1)}/min ` +
        `(operator's write counter ${st.operatorWritesPerMinute.toFixed(1)}/min)`,
    );
    out(
      `  reconciles ${st.reconcilesPerSecond.toFixed(2)}/s, queue adds ${st.addsPerSecond.toFixed(2)}/s, ` +
        `health checks ${st.probesPerSecond.toFixed(0)}/s (responder saw ${((rStats1.requests - rStats0.requests) / st.seconds).toFixed(0)} HTTP requests/s)`,
    );
    out(`  reconciles asked for by: ${st.triggers}`);
    report.targets.push({
      name: 'operator RSS at steady state',
      target: '< 250 MB',
      value: `${steadyRss.toFixed(0)} MiB`,
      met: steadyRss * 1.048576 < 250,
    });
    report.targets.push({
      name: 'writes at steady state',
      target: '0 /min',
      value: `${st.writesPerMinute.toFixed(1)} /min`,
      met: st.writesPerMinute === 0,
    });
    for (const l of report.lines.slice(-5)) say(l);

    // ---- operator restart (a new leader) ----------------------------------------------------
    if (RESTART) {
      // What a new leader costs at this scale: until it has listed everything and checked every
      // member again, no failover can be detected; and it must not rewrite what is already right.
      say('restarting the operator');
      const stopAt = Date.now();
      await operator.stop();
      const stoppedSeconds = (Date.now() - stopAt) / 1000;
      responder.mark();
      const apiA = apiServerRequests();
      const startAt = Date.now();
      operator = newOperator();
      await operator.start();
      pid = operator.child!.pid!;
      const readySeconds = (Date.now() - startAt) / 1000;
      let checkedSeconds = NaN;
      let seen = 0;
      let lastPrint = Date.now();
      while (Date.now() - startAt < 120_000) {
        seen = (await responder.stats()).seen;
        if (seen >= 2 * PAIRS) {
          checkedSeconds = (Date.now() - startAt) / 1000;
          break;
        }
        if (Date.now() - lastPrint > 5000) {
          lastPrint = Date.now();
          const m = parseMetrics(await operator.metrics());
          say(
            `  restarted: ${seen}/${2 * PAIRS} members checked, ` +
              `${sum(m, 'workqueue_work_duration_seconds_count').toFixed(0)} reconciles, queue depth ${sum(m, 'workqueue_depth')}, ` +
              `heap used ${(sum(m, 'nodejs_heap_size_used_bytes') / 2 ** 20).toFixed(0)} MiB, ` +
              `GC ${sum(m, 'nodejs_gc_duration_seconds_sum').toFixed(1)} s, RSS ${procRssMiB(pid).toFixed(0)} MiB`,
          );
        }
        await sleep(250);
      }
      const quietFrom = Date.now();
      await sleep(30_000);
      const r1 = await snapshot(operator);
      const apiB = apiServerRequests();
      const lists = sum(r1.m, 'rest_client_requests_total', (l) => /method="GET"/.test(l));
      out(`operator restart (${PAIRS} pairs; a new process, as a new leader)`);
      out(
        `  old process gone after ${f2(stoppedSeconds)} s; new one ready after ${f2(readySeconds)} s; ` +
          `every member checked again ${Number.isFinite(checkedSeconds) ? `after ${f2(checkedSeconds)} s` : `not within 120 s (${seen}/${2 * PAIRS})`}`,
      );
      out(
        `  from its start to ${((Date.now() - quietFrom) / 1000).toFixed(0)} s after that: ` +
          `${(apiB.writes - apiA.writes).toFixed(0)} writes in the cluster (the operator's ${sum(r1.m, 'lpo_api_writes_total').toFixed(0)}` +
          `${apiB.writes > apiA.writes ? `; ${writesByResource(apiA.byResource, apiB.byResource, 1)}` : ''}), ` +
          `${lists.toFixed(0)} GET requests by the operator (lists, watches, reads); RSS ${r1.rss.toFixed(0)} MiB`,
      );
      report.targets.push({
        name: 'members checked again after a restart',
        target: 'all, < 120 s',
        value: Number.isFinite(checkedSeconds) ? `all in ${f2(checkedSeconds)} s` : `${seen}/${2 * PAIRS}`,
        met: Number.isFinite(checkedSeconds),
      });
      for (const l of report.lines.slice(-3)) say(l);
    }

    // ---- failovers one by one while the others are healthy -----------------------------------
    const stride = Math.max(1, Math.floor(PAIRS / Math.max(1, FAILOVERS)));
    const chosen = Array.from({ length: Math.min(FAILOVERS, PAIRS) }, (_, i) => keys[(i * stride) % PAIRS]!);
    say(`failing ${chosen.length} pairs one at a time, 1.5 s apart (the others stay healthy)`);
    const f0 = await snapshot(operator);
    const scaled: FailoverSample[] = [];
    const missedOne: string[] = [];
    await Promise.all(
      chosen.map(async (key, i) => {
        await sleep(i * 1500 + Math.random() * HEALTH.periodSeconds * 1000);
        const r = await failLive(k, responder, services, [key], 60_000);
        scaled.push(...r.samples);
        missedOne.push(...r.missed);
      }),
    );
    const f1 = await snapshot(operator);
    const notHealthy1 = await waitHealthy(k, chosen, 90_000);
    const ratio = (p: number) =>
      pct(
        scaled.map((s) => s.detectionToSwitch),
        p,
      ) /
      pct(
        single.map((s) => s.detectionToSwitch),
        p,
      );
    const row = (name: string, xs: FailoverSample[]) =>
      `  ${name.padEnd(22)} n=${String(xs.length).padEnd(4)} detection-to-switch p50 ${f2(
        pct(
          xs.map((s) => s.detectionToSwitch),
          50,
        ),
      )} s ` +
      `p99 ${f2(
        pct(
          xs.map((s) => s.detectionToSwitch),
          99,
        ),
      )} s max ${f2(Math.max(...xs.map((s) => s.detectionToSwitch)))} s | ` +
      `fault-to-switch p50 ${f2(
        pct(
          xs.map((s) => s.faultToSwitch),
          50,
        ),
      )} s p99 ${f2(
        pct(
          xs.map((s) => s.faultToSwitch),
          99,
        ),
      )} s | ` +
      `reported detection p50 ${f2(
        pct(
          xs.map((s) => s.reportedDetection),
          50,
        ),
      )} s`;
    out(
      `failover of a ${FAULT === 'hang' ? 'hung' : FAULT} live member (checks ${HEALTH.periodSeconds} s × ${HEALTH.failureThreshold}, timeout ${HEALTH.timeoutSeconds} s)`,
    );
    out(row('single pair', single));
    out(row(`1 of ${PAIRS} pairs`, scaled));
    out(
      `  ratio ${PAIRS} pairs / single pair: p50 ${f2(ratio(50))}, p99 ${f2(ratio(99))}` +
        (missedOne.length ? `; ${missedOne.length} did not switch within 60 s` : '') +
        (notHealthy1 ? `; ${notHealthy1} not healthy again within 90 s` : ''),
    );
    out(
      `  during these failovers: queue latency p99 ${f2(histQuantile(f0.m, f1.m, 'workqueue_queue_duration_seconds', 0.99))} s, ` +
        `writes ${((sum(f1.m, 'lpo_api_writes_total') - sum(f0.m, 'lpo_api_writes_total')) / Math.max(1, scaled.length)).toFixed(1)} per failover`,
    );
    report.targets.push({
      name: `failover p99 at ${PAIRS} pairs vs single`,
      target: '≤ 1.5×',
      value: `${f2(ratio(99))}× (${f2(
        pct(
          scaled.map((s) => s.detectionToSwitch),
          99,
        ),
      )} s vs ${f2(
        pct(
          single.map((s) => s.detectionToSwitch),
          99,
        ),
      )} s)`,
      met: ratio(99) <= 1.5 && missedOne.length === 0,
    });
    for (const l of report.lines.slice(-5)) say(l);

    // ---- many pairs failing at once ---------------------------------------------------------
    if (BURST > 0) {
      const burstKeys = keys.filter((key) => !chosen.includes(key)).slice(0, BURST);
      say(`failing ${burstKeys.length} pairs at once`);
      const b0 = await snapshot(operator);
      let burstDepth = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const m = parseMetrics(await operator!.metrics().catch(() => ''));
          burstDepth = Math.max(burstDepth, sum(m, 'workqueue_depth'));
          await sleep(500);
        }
      })();
      const r = await failLive(k, responder, services, burstKeys, 90_000);
      sampling = false;
      await sampler;
      const b1 = await snapshot(operator);
      const notHealthy = await waitHealthy(k, burstKeys, 120_000);
      const xs = r.samples.map((s) => s.detectionToSwitch);
      out(`${burstKeys.length} pairs failing at once (the other ${PAIRS - burstKeys.length} healthy)`);
      out(
        `  switched ${r.samples.length}/${burstKeys.length}; last Service switched ${f2((r.lastSwitch - r.t0) / 1000)} s after the fault; ` +
          `detection-to-switch p50 ${f2(pct(xs, 50))} s p99 ${f2(pct(xs, 99))} s max ${f2(Math.max(...xs))} s`,
      );
      out(
        `  max queue depth ${burstDepth}, queue latency p50 ${f2(histQuantile(b0.m, b1.m, 'workqueue_queue_duration_seconds', 0.5))} s ` +
          `p99 ${f2(histQuantile(b0.m, b1.m, 'workqueue_queue_duration_seconds', 0.99))} s, ` +
          `operator CPU ${rates(b0, b1).cpuPercent.toFixed(0)} %, writes ${(sum(b1.m, 'lpo_api_writes_total') - sum(b0.m, 'lpo_api_writes_total')).toFixed(0)}` +
          (notHealthy ? `; ${notHealthy} not healthy again within 120 s` : ''),
      );
      for (const l of report.lines.slice(-3)) say(l);
    }

    // ---- soak: memory trend -----------------------------------------------------------------
    if (SOAK_MINUTES > 0) {
      say(`soak: ${SOAK_MINUTES} min at steady state, sampling every 30 s`);
      // RSS = anonymous pages (V8's committed heap + the rest: malloc, buffers, pages V8 released
      // to its pool but keeps mapped) + file pages, so a rise can be told apart: V8's heap, other
      // memory, or more of the binary paged in.
      type SoakSample = {
        t: number;
        rss: number;
        heap: number;
        committed: number;
        native: number;
        file: number;
      };
      const soak: SoakSample[] = [];
      const k0 = await snapshot(operator);
      const sample = (s: Snapshot): SoakSample => {
        const committed = sum(s.m, 'nodejs_heap_size_total_bytes') / 2 ** 20;
        return {
          t: (s.at - k0.at) / 60_000,
          rss: s.rss,
          heap: sum(s.m, 'nodejs_heap_size_used_bytes') / 2 ** 20,
          committed,
          native: s.anon - committed,
          file: s.file,
        };
      };
      const end = Date.now() + SOAK_MINUTES * 60_000;
      while (Date.now() < end) {
        const x = sample(await snapshot(operator));
        soak.push(x);
        say(
          `  soak ${x.t.toFixed(1)} min: RSS ${x.rss.toFixed(0)} MiB = V8 heap ${x.committed.toFixed(0)} ` +
            `(${x.heap.toFixed(0)} used) + other anonymous ${x.native.toFixed(0)} + file ${x.file.toFixed(0)}`,
        );
        await sleep(Math.min(30_000, Math.max(0, end - Date.now())));
      }
      const k1 = await snapshot(operator);
      soak.push(sample(k1));
      const slope = (ys: number[]) => {
        const xs = soak.map((s) => s.t);
        const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
        const my = ys.reduce((a, b) => a + b, 0) / ys.length;
        let num = 0;
        let den = 0;
        for (let i = 0; i < xs.length; i++) {
          num += (xs[i]! - mx) * (ys[i]! - my);
          den += (xs[i]! - mx) ** 2;
        }
        return den === 0 ? 0 : num / den;
      };
      const sr = rates(k0, k1);
      const rssMax = Math.max(...soak.map((s) => s.rss));
      out(`soak (${SOAK_MINUTES} min, ${soak.length} samples)`);
      out(
        `  RSS ${soak[0]!.rss.toFixed(0)} → ${soak.at(-1)!.rss.toFixed(0)} MiB (max ${rssMax.toFixed(0)}), trend ${slope(soak.map((s) => s.rss)).toFixed(2)} MiB/min; ` +
          `heap ${soak[0]!.heap.toFixed(0)} → ${soak.at(-1)!.heap.toFixed(0)} MiB, trend ${slope(soak.map((s) => s.heap)).toFixed(2)} MiB/min`,
      );
      const trend = (label: string, pick: (s: SoakSample) => number) =>
        `${label} ${pick(soak[0]!).toFixed(0)} → ${pick(soak.at(-1)!).toFixed(0)} MiB (${slope(soak.map(pick)).toFixed(2)}/min)`;
      out(
        `  RSS parts: ${trend('V8 heap committed', (s) => s.committed)}, ` +
          `${trend('other anonymous', (s) => s.native)}, ${trend('file', (s) => s.file)}`,
      );
      out(
        `  CPU ${sr.cpuPercent.toFixed(1)} %, API reads/watches ${sr.readsPerSecond.toFixed(2)}/s, writes ${sr.writesPerMinute.toFixed(1)}/min, ` +
          `reconciles ${sr.reconcilesPerSecond.toFixed(2)}/s`,
      );
      out(`  reconciles asked for by: ${sr.triggers}`);
      report.targets.push({
        name: 'operator RSS over the soak',
        target: '< 250 MB',
        value: `max ${rssMax.toFixed(0)} MiB`,
        met: rssMax * 1.048576 < 250,
      });
      report.targets.push({
        name: 'writes over the soak',
        target: '0 /min',
        value: `${sr.writesPerMinute.toFixed(1)} /min`,
        met: sr.writesPerMinute === 0,
      });
    }
  } catch (err) {
    reportStoppedClusterProcesses();
    throw err;
  } finally {
    await cleanup();
  }

  const cpus = os.cpus();
  process.stdout.write(
    `\nscale benchmark: ${PAIRS} pairs, ${NODES} kwok nodes; ${cpus.length} × ${cpus[0]?.model ?? 'cpu'}, ` +
      `${(os.totalmem() / 2 ** 30).toFixed(0)} GiB (shared with other work: timings are noisy)\n`,
  );
  for (const l of report.lines) process.stdout.write(`${l}\n`);
  process.stdout.write('\ntargets\n');
  for (const t of report.targets)
    process.stdout.write(
      `  ${t.met ? 'met    ' : 'NOT met'} ${t.name.padEnd(36)} ${t.target.padEnd(9)} ${t.value}\n`,
    );
}

await main();
