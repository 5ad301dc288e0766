// Failover benchmark on the local cluster with a real node (started here if not running, stopped at
// the end only then): the chart installed as `npm run demo` does, a pair in a namespace of its own,
// and per fault kind (failover-faults.ts), repeated --rounds times: pod-deleted, container-killed,
// process-hung, pod-partitioned (healed once the Service has moved: the serving rules of
// docs/reliability.md), and only when named with --faults, on three real nodes (the operator on the
// first, the members and the single server on the others): node-lost, node-partitioned.
// For each round: the operator's detection-to-switch (status.lastFailover.detectionSeconds, and the
// time from the fault to the Service's selector naming the other member) and the client-observed
// outage. Side by side, in the same run, the alternative a user would otherwise pick: one licence
// server in a Deployment of 1 replica behind a Service, restarted by Kubernetes with the probe
// settings people copy (liveness and readiness every 10 s, failureThreshold 3), with the same faults.
//
// The load client is a separate process (so that this one's synchronous kubectl/ctr calls cannot
// delay it): raw HTTP, a NEW connection per request (an established keep-alive connection stays on
// the old pod through conntrack; a new one follows the Service as kube-proxy routes it), a checkout
// of the same seat (idempotent per client id and feature, so it works on a restarted server with
// an empty ledger too) every --interval-ms to the Service's ClusterIP from the host, 1 s timeout.
// Its retries would hide the routing outage inside one slow call, so this client is not the
// project's LicenseClient. Outage = the longest gap between two consecutive successful answers from
// just before the fault until the round ends (last success before → first success after).
//
// What an application sees is measured beside it, in the same rounds: an application pod
// (test/e2e/fixtures/app-client.ts) in each namespace uses LicenseClient on keep-alive connections
// to the Service by its cluster DNS name (following NOT_ACTIVE redirects to *.svc hosts it can
// resolve), two holders of a seat renewed by the client's heartbeat and a churner checking out and
// releasing; per round: its longest call and the errors it had to handle (goal 0).
//
// The pair runs with failover.failback: Manual and the default health check (2 s × 3, timeout 1 s):
// after each failover the bench sets spec.preferredMember to the new live member (no move) and
// waits for phase Running, both members Healthy and StandbyReady, so the next round starts from
// a healthy pair (and hits the other member). Automatic failback would add 30 s+ per round and
// a second move the client would also see.
//
// The single server always starts as a standby (the reference server has no standalone mode;
// src/license-server/config.ts): the bench promotes it (POST /v1/admin/promote, force) as soon as
// its new container answers, and that time is part of its outage.
//
// Run: npm run bench -- failover [--rounds 5] [--interval-ms 50] [--skip-single]
//        [--faults pod-deleted,…,node-lost,node-partitioned] [--policy default|aggressive]
//        [--no-standby-reads] [--hedge-ms 300 (0: the application's client does not hedge)]
//        [--operator-log FILE]
import * as k8s from '@kubernetes/client-node';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { signLicence } from '../../src/license-server/licence-file.ts';
import { bindsUntil, rightUntil } from '../../src/license-server/serving-rights.ts';
import {
  confirmTimeoutMs,
  earlySilentMs,
  hungDetectionBoundMs,
  peerPromiseMsFor,
  peerSilentMs,
  silentFaultBoundMs,
} from '../../src/operator/detection.ts';
import { healthCheckTimeoutMs } from '../../src/api/pair.ts';
import { soloGrantMs } from '../../src/operator/serving.ts';
import { body as sampleBody } from '../../samples/make-sample-license.ts';
import { applySamplePair, patchPairSpec, preferMember } from '../chart/live-pair.ts';
import { kubeconfigPath, repoRoot } from '../cluster/config.ts';
import { controlPlaneStatus } from '../cluster/control-plane.ts';
import { nodesStatus } from '../cluster/node.ts';
import { offFirstNode, operatorOnFirstNode } from '../cluster/node-spec.ts';
import { installOperatorChart } from '../cluster/operator-chart.ts';
import { requestOnNewConnection, type RequestTls } from '../support/http.ts';
import { helm, kubectl, must, tool } from '../chart/lib.ts';
import { APP_IMAGE, appPod, appReady, appReport } from '../support/app-pod.ts';
import {
  FAULTS,
  POD_FAULTS,
  inject,
  isNodeFault,
  isPartition,
  reportedByPlatform,
  type Fault,
} from './failover-faults.ts';

const args = process.argv.slice(2);
const arg = (n: string, d: number) => {
  const i = args.indexOf(`--${n}`);
  return i >= 0 ? Number(args[i + 1]) : d;
};
const ROUNDS = arg('rounds', 5);
const INTERVAL_MS = arg('interval-ms', 50);
const SKIP_SINGLE = args.includes('--skip-single');
/**
 * `--policy`: the pair's health check. `default` is the CRD's (every 2 s, timeout 1 s, 3 failures);
 * `aggressive` checks every second with a 500 ms timeout (and so a 500 ms promise, detection.ts)
 * and fails over on the first failed check.
 */
const POLICIES = {
  default: { periodSeconds: 2, timeoutSeconds: 1, failureThreshold: 3 },
  aggressive: { periodSeconds: 1, timeoutSeconds: 1, timeoutMilliseconds: 500, failureThreshold: 1 },
} as const;
const POLICY_NAME = (() => {
  const i = args.indexOf('--policy');
  const name = i >= 0 ? args[i + 1] : 'default';
  if (name !== 'default' && name !== 'aggressive')
    throw new Error(`unknown policy ${name}; known: ${Object.keys(POLICIES).join(', ')}`);
  return name;
})();
const POLICY = POLICIES[POLICY_NAME];
const POLICY_TIMEOUT_MS = healthCheckTimeoutMs(POLICY);
const POLICY_TIMING = { periodSeconds: POLICY.periodSeconds, timeoutMs: POLICY_TIMEOUT_MS };
/**
 * The operator holds a status read on each standby (STANDBY_SILENCE_WATCH, on by default);
 * `--no-standby-reads` turns it off (detection by the checks' period alone).
 */
const STANDBY_READS = !args.includes('--no-standby-reads');
/** The application's client hedges its attempts after this long (src/client/hedge.ts); 0: not at all. */
const HEDGE_MS = arg('hedge-ms', 300);
/** `--operator-log FILE`: the operators' logs are written there before the cleanup. */
const OPERATOR_LOG = (() => {
  const i = args.indexOf('--operator-log');
  return i >= 0 ? args[i + 1] : undefined;
})();
const REQUEST_TIMEOUT_MS = 1000;
const ROUND_TIMEOUT_MS = 240_000;
/** `--faults a,b`: only these (e.g. --faults pod-partitioned); the node faults only when named. */
const ONLY = (() => {
  const i = args.indexOf('--faults');
  if (i < 0) return undefined;
  const named = (args[i + 1] ?? '').split(',');
  const unknown = named.filter((f) => !(FAULTS as readonly string[]).includes(f));
  if (unknown.length) throw new Error(`unknown fault(s) ${unknown.join(', ')}; known: ${FAULTS.join(', ')}`);
  return new Set(named);
})();
const PAIR_FAULTS = ONLY ? FAULTS.filter((f) => ONLY.has(f)) : [...POD_FAULTS];
/** A partition has no meaning for one server without a peer: the single Deployment skips it. */
const SINGLE_FAULTS = PAIR_FAULTS.filter((f) => !isPartition(f));
/** Node faults hit an extra node: the bed has three, the operator stays on the first. */
const NODES = PAIR_FAULTS.some(isNodeFault) ? 3 : 1;
const GROUP = { group: 'lpo.dev', version: 'v1alpha1', plural: 'licenseserverpairs' };
const IMAGE = 'license-pair-operator/license-server:0.1.0';
const t0 = Date.now();
const say = (msg: string) =>
  process.stdout.write(`+${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s  ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------------- load client (child)

function loadClient(url: string, tls: RequestTls | undefined): void {
  const checkout = { feature: 'synth', clientId: 'bench-load', user: 'bench', host: 'bench-host' };
  const one = () => {
    const sent = Date.now();
    const finish = (ok: boolean, why: string) =>
      process.stdout.write(`${ok ? 1 : 0} ${sent} ${Date.now()} ${why}\n`);
    requestOnNewConnection(url, {
      json: checkout,
      timeoutMs: REQUEST_TIMEOUT_MS,
      ...(tls ? { tls } : {}),
    }).then(
      (r) => finish(r.status === 200, String(r.status)),
      (err: NodeJS.ErrnoException) => finish(false, err.code ?? err.message),
    );
  };
  setInterval(one, INTERVAL_MS);
  process.on('SIGTERM', () => process.exit(0));
}

type Sample = { ok: boolean; sent: number; done: number; why: string };

class Load {
  private proc: ChildProcess;
  samples: Sample[] = [];
  /** `tls`: the pair's CA bundle and the Service host its certificates hold (passed as JSON). */
  constructor(url: string, tls?: RequestTls) {
    this.proc = spawn(
      process.execPath,
      [
        fileURLToPath(import.meta.url),
        '--load',
        url,
        '--interval-ms',
        String(INTERVAL_MS),
        ...(tls ? ['--tls', JSON.stringify(tls)] : []),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let buf = '';
    this.proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) {
        const [ok, sent, done, why = ''] = l.split(' ');
        this.samples.push({ ok: ok === '1', sent: Number(sent), done: Number(done), why });
      }
    });
  }
  /** Longest gap between consecutive successes among those completed from `from` on (the last one before included). */
  outage(fault: number, end: number): number {
    const oks = this.samples
      .filter((s) => s.ok && s.done <= end)
      .map((s) => s.done)
      .sort((a, b) => a - b);
    const before = oks.filter((d) => d <= fault).at(-1);
    const after = oks.filter((d) => d > fault);
    let prev = before ?? fault;
    let gap = 0;
    for (const d of after) {
      gap = Math.max(gap, d - prev);
      prev = d;
    }
    return gap / 1000;
  }
  /** What the failed answers after the fault were, e.g. "503×20 ECONNREFUSED×3". */
  failures(fault: number, end: number): string {
    const counts = new Map<string, number>();
    for (const x of this.samples)
      if (!x.ok && x.done >= fault && x.done <= end) counts.set(x.why, (counts.get(x.why) ?? 0) + 1);
    return [...counts].map(([w, n]) => `${w}×${n}`).join(' ') || 'none';
  }
  /**
   * How long the answers completed after `since` have been good, ms: since the last failure, or
   * since the first of them when none failed (0 while the latest failed or none came). Answers
   * from before `since` do not count: after a fault, a client whose requests all hang has no
   * streak, however long ago its last failure was.
   */
  okStreakMs(since = 0): number {
    const after = this.samples.filter((s) => s.done > since);
    const lastFail = after.filter((s) => !s.ok).at(-1)?.done;
    const firstOk = after.find((s) => s.ok && (lastFail === undefined || s.done > lastFail))?.done;
    return firstOk === undefined ? 0 : Date.now() - (lastFail ?? firstOk);
  }
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGTERM');
    await exited;
  }
}

// ------------------------------------------------------------------------- cluster helpers

function kubeClients() {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return {
    core: kc.makeApiClient(k8s.CoreV1Api),
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
  };
}
// Made once the cluster runs (main starts it when needed): the kubeconfig exists only then.
let k: ReturnType<typeof kubeClients>;
const kc = (a: string[], input?: string) =>
  must(tool('kubectl'), ['--kubeconfig', kubeconfigPath, ...a], { input, timeoutMs: 200_000 });

function clusterCmd(a: string[]): void {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'test/cluster/cluster.ts'), ...a], {
    stdio: 'inherit',
  });
  if (r.status !== 0) throw new Error(`cluster ${a.join(' ')} failed`);
}

async function until<T>(
  what: string,
  f: () => Promise<T | undefined | false>,
  ms: number,
  stepMs = 20,
): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await f();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await sleep(stepMs);
  }
  throw new Error(`timed out after ${ms / 1000}s: ${what}${last ? ` (${String(last)})` : ''}`);
}

const selector = async (ns: string, svc: string) =>
  (await k.core.readNamespacedService({ namespace: ns, name: svc })).spec?.selector ?? {};

type PodInfo = {
  name: string;
  uid: string;
  ip?: string;
  containerId?: string;
  nodeName?: string;
  restarts: number;
  running: boolean;
};
async function podsOf(ns: string, labelSelector: string): Promise<PodInfo[]> {
  const list = await k.core.listNamespacedPod({ namespace: ns, labelSelector });
  return list.items
    .filter((p) => !p.metadata?.deletionTimestamp)
    .map((p) => {
      const cs = p.status?.containerStatuses?.[0];
      return {
        name: p.metadata!.name!,
        uid: p.metadata!.uid!,
        ...(p.status?.podIP ? { ip: p.status.podIP } : {}),
        ...(cs?.containerID ? { containerId: cs.containerID.replace(/^containerd:\/\//, '') } : {}),
        ...(p.spec?.nodeName ? { nodeName: p.spec.nodeName } : {}),
        restarts: cs?.restartCount ?? 0,
        running: !!cs?.state?.running,
      };
    });
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
};
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '—');

// ------------------------------------------------------------------------- the pair

type PairStatus = {
  phase?: string;
  liveMember?: string;
  failoverCount?: number;
  lastFailover?: { time?: string; detectionSeconds?: number; reason?: string; to?: string };
  members?: Record<string, { health?: string }>;
  conditions?: { type: string; status: string }[];
};
const PAIR = 'bench';
/** The default of spec.failover.minSecondsBetweenFailovers (the sample pair leaves it unset). */
const MIN_SECONDS_BETWEEN_FAILOVERS = 10;

async function pairStatus(ns: string): Promise<PairStatus> {
  const o = (await k.custom.getNamespacedCustomObject({ ...GROUP, namespace: ns, name: PAIR })) as {
    status?: PairStatus;
  };
  return o.status ?? {};
}

async function pairSettled(ns: string): Promise<string> {
  return until(
    'the pair Running with both members Healthy and the standby ready',
    async () => {
      const st = await pairStatus(ns);
      return st.phase === 'Running' &&
        st.members?.primary?.health === 'Healthy' &&
        st.members.redundant?.health === 'Healthy' &&
        st.conditions?.some((c) => c.type === 'StandbyReady' && c.status === 'True')
        ? st.liveMember
        : undefined;
    },
    ROUND_TIMEOUT_MS,
    200,
  );
}

type Round = {
  switchS: number;
  detectionS: number;
  outageS: number;
  /** the application pod's longest call and its errors in the round (LicenseClient by cluster DNS) */
  appWaitS: number;
  /** the churner's longest stretch without a successful call (failed calls retried or given up) */
  appStallS: number;
  appErrors: number;
  note?: string;
};

/** The application pod of each namespace (test/support/app-pod.ts). */
const APP = 'app-client';

async function appRound(
  ns: string,
  at: number,
): Promise<{ appWaitS: number; appStallS: number; appErrors: number; why: string }> {
  const r = await appReport(k.core, ns, APP, at);
  const why = r.errors
    .map((e) => `${e.op}: ${e.message}`)
    .slice(0, 2)
    .join('; ');
  return {
    appWaitS: r.longestCallMs / 1000,
    appStallS: r.longestStallMs / 1000,
    appErrors: r.errors.length,
    why,
  };
}

async function startAppPod(ns: string, url: string, caConfigMap?: string): Promise<void> {
  const pod = appPod({
    name: APP,
    namespace: ns,
    url,
    feature: 'sim',
    ...(caConfigMap ? { caConfigMap } : {}),
    ...(HEDGE_MS > 0 ? { hedgeAfterMs: HEDGE_MS } : {}),
    ...(NODES > 1 ? { nodeSelector: { 'kubernetes.io/hostname': 'lpo-node-1' } } : {}),
  });
  kc(['apply', '-f', '-'], JSON.stringify(pod));
  await until('the application pod holding its seats', () => appReady(k.core, ns, APP), 120_000, 500);
}

async function pairRound(ns: string, fault: Fault, load: Load, operatorNs: string): Promise<Round> {
  const live = await pairSettled(ns);
  const to = live === 'primary' ? 'redundant' : 'primary';
  const settled = await pairStatus(ns);
  const before = settled.failoverCount ?? 0;
  // The operator does not move the Service again within failover.minSecondsBetweenFailovers
  // (default 10 s) of the last move: a fault that soon after the previous round would measure that
  // hold-off, not the failover. Real faults are not 10 s apart; the rounds are spaced out.
  const lastMove = Date.parse(settled.lastFailover?.time ?? '') || 0;
  await sleep(Math.max(0, lastMove + (MIN_SECONDS_BETWEEN_FAILOVERS + 2) * 1000 - Date.now()));
  const [pod] = await podsOf(ns, `lpo.dev/pair=${PAIR},lpo.dev/member=${live}`);
  if (!pod) throw new Error(`no pod for ${live}`);
  const cut: string[] = [];
  if (fault === 'pod-partitioned') {
    const [peer] = await podsOf(ns, `lpo.dev/pair=${PAIR},lpo.dev/member=${to}`);
    const operators = await k.core.listNamespacedPod({ namespace: operatorNs });
    cut.push(peer!.ip!, ...operators.items.map((p) => p.status?.podIP).filter((ip): ip is string => !!ip));
  }
  // Load through a settled pair for a while, and a success just before the fault.
  await until('steady successful load', async () => load.okStreakMs() > 2000, 60_000, 100);
  const { at, resume } = await inject(fault, ns, pod, cut);
  let switchS: number;
  try {
    await until(
      `the Service to select ${to}`,
      async () => (await selector(ns, PAIR))['lpo.dev/member'] === to,
      ROUND_TIMEOUT_MS,
    );
    switchS = (Date.now() - at) / 1000;
  } finally {
    await resume();
  }
  const st = await until(
    'status.lastFailover of this failover',
    async () => {
      const s = await pairStatus(ns);
      return (s.failoverCount ?? 0) > before ? s : undefined;
    },
    30_000,
    100,
  );
  // The clients are served again: the outage window closes once answers have been good for 3 s.
  await until('the client served again', async () => load.okStreakMs(at) > 3000, ROUND_TIMEOUT_MS, 100);
  const end = Date.now();
  const outageS = load.outage(at, end);
  const failed = load.failures(at, end);
  const app = await appRound(ns, at);
  // Failback Manual: make the new live member the preferred one (no move), so the pair is Running.
  preferMember(ns, PAIR, to);
  await pairSettled(ns);
  const r: Round = {
    switchS,
    detectionS: st.lastFailover?.detectionSeconds ?? NaN,
    outageS,
    appWaitS: app.appWaitS,
    appStallS: app.appStallS,
    appErrors: app.appErrors,
    note: `${st.lastFailover?.reason ?? '?'}, ${live}→${to}; failed: ${failed}${app.why ? `; app: ${app.why}` : ''}`,
  };
  return r;
}

// ------------------------------------------------------------------------- the single Deployment

const SINGLE = 'single';

function applySingle(ns: string, token: string): void {
  const privateKey = readFileSync(
    path.join(repoRoot, 'samples/demo-issuer/DEMO-ONLY-private-key.pem'),
    'utf8',
  );
  const publicKey = readFileSync(path.join(repoRoot, 'samples/demo-issuer/public-key.pem'), 'utf8');
  const licence = signLicence({ ...sampleBody, issuedTo: `${ns}/${SINGLE}` }, privateKey);
  const labels = { app: SINGLE };
  const objects = [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: `${SINGLE}-license`, namespace: ns },
      stringData: { 'license.json': JSON.stringify(licence), 'public-key.pem': publicKey },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: `${SINGLE}-admin-token`, namespace: ns },
      stringData: { token },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: SINGLE, namespace: ns },
      spec: { selector: labels, ports: [{ name: 'licences', port: 7070, targetPort: 'licences' }] },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: SINGLE, namespace: ns },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            enableServiceLinks: false,
            automountServiceAccountToken: false,
            ...(NODES > 1
              ? {
                  affinity: offFirstNode,
                  // Evicted from a lost node after 30 s of NotReady instead of the default 300 s:
                  // tuned in the single server's favour.
                  tolerations: ['node.kubernetes.io/unreachable', 'node.kubernetes.io/not-ready'].map(
                    (key) => ({
                      key,
                      operator: 'Exists',
                      effect: 'NoExecute',
                      tolerationSeconds: 30,
                    }),
                  ),
                }
              : {}),
            securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532 },
            containers: [
              {
                name: 'license-server',
                image: IMAGE,
                imagePullPolicy: 'Never',
                env: [
                  { name: 'LS_PAIR_ID', value: `${ns}/${SINGLE}` },
                  { name: 'LS_MEMBER', value: 'primary' },
                  { name: 'LS_LICENSE_FILE', value: '/etc/license/license.json' },
                  { name: 'LS_PUBLIC_KEY_FILE', value: '/etc/license/public-key.pem' },
                  { name: 'LS_ADMIN_TOKEN_FILE', value: '/etc/admin/token' },
                  { name: 'LS_STATE_DIR', value: '/var/lib/license-server' },
                ],
                ports: [
                  { name: 'licences', containerPort: 7070 },
                  { name: 'admin', containerPort: 7071 },
                  { name: 'metrics', containerPort: 9464 },
                ],
                resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
                // The probe settings people copy: every 10 s, 3 failures (timeout 1 s, the default).
                livenessProbe: {
                  httpGet: { path: '/healthz', port: 'admin' },
                  periodSeconds: 10,
                  failureThreshold: 3,
                },
                readinessProbe: {
                  httpGet: { path: '/readyz', port: 'admin' },
                  periodSeconds: 10,
                  failureThreshold: 3,
                },
                volumeMounts: [
                  { name: 'license', mountPath: '/etc/license', readOnly: true },
                  { name: 'admin', mountPath: '/etc/admin', readOnly: true },
                  { name: 'state', mountPath: '/var/lib/license-server' },
                ],
              },
            ],
            volumes: [
              { name: 'license', secret: { secretName: `${SINGLE}-license` } },
              { name: 'admin', secret: { secretName: `${SINGLE}-admin-token` } },
              { name: 'state', emptyDir: {} },
            ],
          },
        },
      },
    },
  ];
  kc(['apply', '-f', '-'], objects.map((o) => JSON.stringify(o)).join('\n'));
}

async function adminCall(ip: string, token: string, method: string, p: string, body?: unknown) {
  const res = await fetch(`http://${ip}:7071${p}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(1000),
  });
  return { status: res.status, body: (await res.json()) as { role?: string; epoch?: number } };
}

/** Promotes whatever container of the single server answers as a standby, until stopped. */
class Promoter {
  private stopped = false;
  private done: Promise<void>;
  promotions = 0;
  constructor(ns: string, token: string) {
    this.done = (async () => {
      while (!this.stopped) {
        try {
          const [pod] = await podsOf(ns, `app=${SINGLE}`);
          if (pod?.ip && pod.running) {
            const st = await adminCall(pod.ip, token, 'GET', '/v1/status');
            if (st.status === 200 && st.body.role === 'standby') {
              const r = await adminCall(pod.ip, token, 'POST', '/v1/admin/promote', {
                epoch: (st.body.epoch ?? 0) + 1,
                force: true,
              });
              if (r.status === 200) this.promotions++;
            }
          }
        } catch {
          // Not up yet, or hung: the next look.
        }
        await sleep(100);
      }
    })();
  }
  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

async function singleRound(ns: string, fault: Fault, load: Load): Promise<Round> {
  const [current] = await podsOf(ns, `app=${SINGLE}`);
  if (current && current.restarts > 0) {
    // Every round starts from a container that never restarted: the kubelet's crash-loop back-off
    // from the previous round (10 s, 20 s, 40 s… until a container has run for 10 min) would
    // otherwise lengthen this one. Favourable to the alternative; not measured.
    kc(['delete', 'pod', current.name, '-n', ns, '--wait=false']);
    await until(
      'a fresh single-server pod',
      async () => {
        const [p] = await podsOf(ns, `app=${SINGLE}`);
        return p && p.uid !== current.uid && p.running;
      },
      ROUND_TIMEOUT_MS,
      100,
    );
  }
  await until('steady successful load', async () => load.okStreakMs() > 2000, ROUND_TIMEOUT_MS, 100);
  const [pod] = await podsOf(ns, `app=${SINGLE}`);
  if (!pod) throw new Error('no single-server pod');
  const { at, resume } = await inject(fault, ns, pod);
  try {
    // Recovered: a different pod, or the same pod with a new container, serving through the Service.
    await until(
      'the single server restarted',
      async () => {
        const [p] = await podsOf(ns, `app=${SINGLE}`);
        return p && (p.uid !== pod.uid || p.restarts > pod.restarts) && p.running;
      },
      ROUND_TIMEOUT_MS,
      100,
    );
  } finally {
    await resume();
  }
  await until('the client served again', async () => load.okStreakMs(at) > 3000, ROUND_TIMEOUT_MS, 100);
  const end = Date.now();
  const app = await appRound(ns, at);
  return {
    switchS: NaN,
    detectionS: NaN,
    outageS: load.outage(at, end),
    appWaitS: app.appWaitS,
    appStallS: app.appStallS,
    appErrors: app.appErrors,
    note: `failed: ${load.failures(at, end)}${app.why ? `; app: ${app.why}` : ''}`,
  };
}

// ------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const cp = await controlPlaneStatus().catch(() => []);
  const nodes = await nodesStatus().catch(() => []);
  const reuse =
    cp.length > 0 &&
    cp.every((r) => r.healthy) &&
    nodes.length === NODES &&
    nodes.every((n) => n.components.length > 0 && n.components.every((c) => c.healthy));
  if (!reuse && cp.length > 0 && cp.every((r) => r.healthy) && nodes.some((n) => n.components.length))
    throw new Error(`these faults need a cluster of ${NODES} node(s); \`npm run cluster -- down\` first`);
  if (!reuse) clusterCmd(['up', '--nodes', String(NODES)]);
  k = kubeClients();
  clusterCmd(['images', 'license-pair-operator/operator:0.1.0', IMAGE, APP_IMAGE]);
  const id = randomBytes(3).toString('hex');
  const release = `lpo-bench-${id}`;
  const operatorNs = `lpo-bench-${id}`;
  const pairNs = `bench-pair-${id}`;
  const singleNs = `bench-single-${id}`;
  const results: Record<'pair' | 'single', Partial<Record<Fault, Round[]>>> = { pair: {}, single: {} };
  const loads: Load[] = [];
  let promoter: Promoter | undefined;
  try {
    say(`helm install ${release} (operator, 2 replicas) in ${operatorNs}`);
    installOperatorChart(
      release,
      operatorNs,
      ['image.pullPolicy=Never', ...(NODES > 1 ? [operatorOnFirstNode] : [])],
      { STANDBY_SILENCE_WATCH: STANDBY_READS ? 'true' : 'false' },
    );

    say(
      `pair ${pairNs}/${PAIR} (the sample pair, its licence signed for it; failback Manual; health check ` +
        `${POLICY_NAME}: every ${POLICY.periodSeconds} s, timeout ${POLICY_TIMEOUT_MS} ms, ` +
        `${POLICY.failureThreshold} failure(s); standby reads ${STANDBY_READS ? 'on' : 'off'})`,
    );
    kc(['create', 'namespace', pairNs]);
    applySamplePair(pairNs, PAIR);
    patchPairSpec(pairNs, PAIR, {
      failover: { failback: 'Manual' },
      healthCheck: POLICY,
      ...(NODES > 1 ? { placement: { affinity: offFirstNode } } : {}),
    });
    await pairSettled(pairNs);
    const pairIp = (await k.core.readNamespacedService({ namespace: pairNs, name: PAIR })).spec!.clusterIP!;
    // TLS, as the pair serves by default: a new TLS connection per request, so every sample
    // pays a handshake (the single server below stays plaintext: it has no operator to issue).
    const ca = kc(['get', 'configmap', `${PAIR}-ca`, '-n', pairNs, '-o', 'jsonpath={.data.ca\\.crt}']);
    const pairLoad = new Load(`https://${pairIp}:7070/v1/checkout`, {
      ca,
      servername: `${PAIR}.${pairNs}.svc`,
    });
    loads.push(pairLoad);
    await startAppPod(pairNs, `https://${PAIR}.${pairNs}.svc:7070`, `${PAIR}-ca`);
    for (const fault of PAIR_FAULTS) {
      const rounds: Round[] = (results.pair[fault] = []);
      for (let i = 0; i < ROUNDS; i++) {
        const r = await pairRound(pairNs, fault, pairLoad, operatorNs);
        rounds.push(r);
        say(
          `pair   ${fault.padEnd(16)} round ${i + 1}: switch ${f2(r.switchS)} s, detection ${f2(r.detectionS)} s, client outage ${f2(r.outageS)} s, application's longest call ${f2(r.appWaitS)} s, stall ${f2(r.appStallS)} s, ${r.appErrors} errors (${r.note})`,
        );
      }
    }
    await pairLoad.stop();

    if (!SKIP_SINGLE) {
      say(`single server: Deployment of 1 replica in ${singleNs} (probes every 10 s, threshold 3)`);
      kc(['create', 'namespace', singleNs]);
      const token = randomBytes(16).toString('hex');
      applySingle(singleNs, token);
      promoter = new Promoter(singleNs, token);
      const singleIp = await until(
        'the single server Service',
        async () =>
          (await k.core.readNamespacedService({ namespace: singleNs, name: SINGLE })).spec?.clusterIP,
        30_000,
      );
      const singleLoad = new Load(`http://${singleIp}:7070/v1/checkout`);
      loads.push(singleLoad);
      await startAppPod(singleNs, `http://${SINGLE}.${singleNs}.svc:7070`);
      for (const fault of SINGLE_FAULTS) {
        const rounds: Round[] = (results.single[fault] = []);
        for (let i = 0; i < ROUNDS; i++) {
          const r = await singleRound(singleNs, fault, singleLoad);
          rounds.push(r);
          say(
            `single ${fault.padEnd(16)} round ${i + 1}: client outage ${f2(r.outageS)} s, application's longest call ${f2(r.appWaitS)} s, stall ${f2(r.appStallS)} s, ${r.appErrors} errors (${r.note})`,
          );
        }
      }
      await singleLoad.stop();
    }
  } finally {
    await promoter?.stop();
    for (const l of loads) await l.stop();
    if (OPERATOR_LOG) {
      // every operator pod's log (the leader's has the decisions), for a round that needs explaining
      const out = kubectl(
        [
          'logs',
          '-n',
          operatorNs,
          '-l',
          'app.kubernetes.io/name=license-pair-operator',
          '--tail=-1',
          '--prefix',
        ],
        {
          timeoutMs: 60_000,
        },
      );
      writeFileSync(OPERATOR_LOG, out.stdout);
      say(`the operators' logs: ${OPERATOR_LOG}`);
    }
    say('cleaning up: namespaces and the helm release');
    kubectl(
      ['delete', 'namespace', pairNs, singleNs, '--ignore-not-found', '--wait=true', '--timeout=120s'],
      {
        timeoutMs: 150_000,
      },
    );
    helm(['uninstall', release, '-n', operatorNs, '--wait', '--timeout', '120s'], { timeoutMs: 150_000 });
    kubectl(['delete', 'namespace', operatorNs, '--ignore-not-found', '--wait=false']);
    if (!reuse) clusterCmd(['down']);
  }

  process.stdout.write(
    `\nfailover on a real node (${ROUNDS} rounds per fault; health check ${POLICY_NAME}: every ${POLICY.periodSeconds} s, timeout ${POLICY_TIMEOUT_MS} ms, ${POLICY.failureThreshold} failure(s); standby reads ${STANDBY_READS ? 'on' : 'off'}; load: a new connection per request to the ClusterIP every ${INTERVAL_MS} ms, 1 s timeout)\n`,
  );
  process.stdout.write(
    'fault             pair: switch p50  p99    max    | detection p50  bound  | outage p50  p99    max    || single: outage p50  p99    max    || ratio p50  p99\n',
  );
  // The detection bound the policy implies for this fault (silentFaultBoundMs), or "report".
  const bound = (fault: Fault) =>
    reportedByPlatform(fault) ? 'report' : f2(silentFaultBoundMs(POLICY_TIMING, STANDBY_READS) / 1000);
  for (const fault of FAULTS) {
    const p = results.pair[fault] ?? [];
    const s = results.single[fault] ?? [];
    if (!p.length && !s.length) continue;
    const sw = p.map((r) => r.switchS);
    const po = p.map((r) => r.outageS);
    const so = s.map((r) => r.outageS);
    const maxOf = (xs: number[]) => (xs.length ? Math.max(...xs) : NaN);
    process.stdout.write(
      `${fault.padEnd(17)} ${' '.repeat(6)}${f2(pct(sw, 50)).padEnd(6)} ${f2(pct(sw, 99)).padEnd(6)} ${f2(maxOf(sw)).padEnd(6)} | ${f2(
        pct(
          p.map((r) => r.detectionS),
          50,
        ),
      ).padEnd(
        14,
      )} ${bound(fault).padEnd(6)} | ${f2(pct(po, 50)).padEnd(11)} ${f2(pct(po, 99)).padEnd(6)} ${f2(maxOf(po)).padEnd(6)} || ${' '.repeat(
        8,
      )}${f2(pct(so, 50)).padEnd(11)} ${f2(pct(so, 99)).padEnd(6)} ${f2(maxOf(so)).padEnd(6)} || ${f2(
        pct(so, 50) / pct(po, 50),
      ).padEnd(10)} ${f2(pct(so, 99) / pct(po, 99))}\n`,
    );
  }
  // The bounds the serving rules imply with the defaults (docs/reliability.md): what the
  // partition row waits for before the standby may serve.
  const promise = peerPromiseMsFor(POLICY_TIMEOUT_MS);
  const grant = soloGrantMs(POLICY_TIMEOUT_MS / 1000);
  process.stdout.write(
    `serving rules     an isolated active stops granting ${f2(rightUntil(0, promise) / 1000)} s after its standby's last ack; ` +
      `a promotion waits at most ${f2(promise / 1000)} s after it; solo grants last ${f2(grant / 1000)} s; ` +
      `a resynced standby is promotable ${f2(bindsUntil(0, grant) / 1000)} s after the last grant\n`,
  );
  const timeoutMs = POLICY_TIMEOUT_MS;
  process.stdout.write(
    `detection         a silent fault (hung, partitioned, node lost) is decided within ${f2(silentFaultBoundMs(POLICY_TIMING, STANDBY_READS) / 1000)} s with this policy ` +
      (STANDBY_READS
        ? `(the standby's ${f2(earlySilentMs(promise) / 1000)} s of silence, a confirming check of ${f2(confirmTimeoutMs(timeoutMs) / 1000)} s, at least ${f2(peerSilentMs(promise) / 1000)} s of silence for the decision: ${f2(hungDetectionBoundMs(timeoutMs) / 1000)} s whatever the period)`
        : `(the next check, one period away, times out; the standby's ${f2(peerSilentMs(promise) / 1000)} s of silence; with the standby reads (the default): ${f2(silentFaultBoundMs(POLICY_TIMING, true) / 1000)} s)`) +
      `; a reported fault (pod deleted, container killed) on the platform's report; the move adds the fence, the promotion, the Service and kube-proxy\n`,
  );
  process.stdout.write(
    `\nthe application in a pod (LicenseClient by cluster DNS, keep-alive, retries, ${HEDGE_MS > 0 ? `hedged after ${HEDGE_MS} ms` : 'not hedged'}), per round: its longest call, its longest stall\n` +
      '(the churner without a successful call: failed calls retried or given up), the errors it had to handle; ratio on the stall\n' +
      'fault             pair: wait max  stall p50  p99    max    errors bound  || single: wait max  stall p50  p99    max    errors || ratio p50  p99\n',
  );
  for (const fault of FAULTS) {
    const p = results.pair[fault] ?? [];
    const s = results.single[fault] ?? [];
    if (!p.length && !s.length) continue;
    const ps = p.map((r) => r.appStallS);
    const ss = s.map((r) => r.appStallS);
    const errors = (rs: Round[]) => (rs.length ? String(rs.reduce((n, r) => n + r.appErrors, 0)) : '—');
    const maxOf = (xs: number[]) => (xs.length ? Math.max(...xs) : NaN);
    const waitMax = (rs: Round[]) => f2(maxOf(rs.map((r) => r.appWaitS)));
    process.stdout.write(
      `${fault.padEnd(17)} ${' '.repeat(6)}${waitMax(p).padEnd(9)} ${f2(pct(ps, 50)).padEnd(10)} ${f2(pct(ps, 99)).padEnd(6)} ${f2(maxOf(ps)).padEnd(6)} ${errors(p).padEnd(6)} ${bound(fault).padEnd(6)} || ${' '.repeat(8)}${waitMax(s).padEnd(9)} ${f2(pct(ss, 50)).padEnd(10)} ${f2(pct(ss, 99)).padEnd(6)} ${f2(maxOf(ss)).padEnd(6)} ${errors(s).padEnd(6)} || ${f2(pct(ss, 50) / pct(ps, 50)).padEnd(10)} ${f2(pct(ss, 99) / pct(ps, 99))}\n`,
    );
  }
  const all = FAULTS.flatMap((f) => results.pair[f] ?? []).map((r) => r.outageS);
  const allSingle = FAULTS.flatMap((f) => results.single[f] ?? []).map((r) => r.outageS);
  process.stdout.write(
    `all faults        pair outage p50 ${f2(pct(all, 50))} s, p99 ${f2(pct(all, 99))} s (target p99 < 3 s: ${
      pct(all, 99) < 3 ? 'met' : 'NOT met'
    }); single p50 ${f2(pct(allSingle, 50))} s, p99 ${f2(pct(allSingle, 99))} s; ratio p50 ${f2(
      pct(allSingle, 50) / pct(all, 50),
    )}, p99 ${f2(pct(allSingle, 99) / pct(all, 99))} (target ≥ 10×)\n`,
  );
  // The application's goals: its longest stall per fault kind within the policy's target, no
  // error, and 10× better than the single Deployment wherever that stalls longer than 5 s.
  const target = POLICY_NAME === 'aggressive' ? 1.5 : 3;
  const appStalls = FAULTS.flatMap((f) => results.pair[f] ?? []).map((r) => r.appStallS);
  const appErrors = FAULTS.flatMap((f) => results.pair[f] ?? []).reduce((n, r) => n + r.appErrors, 0);
  const ratioMisses = FAULTS.filter((f) => {
    const pw = (results.pair[f] ?? []).map((r) => r.appStallS);
    const sw = (results.single[f] ?? []).map((r) => r.appStallS);
    if (!pw.length || !sw.length || pct(sw, 50) <= 5) return false;
    return pct(sw, 50) / pct(pw, 50) < 10 || pct(sw, 99) / pct(pw, 99) < 10;
  });
  process.stdout.write(
    `application       longest stall p99 ${f2(pct(appStalls, 99))} s over all faults (target with the ${POLICY_NAME} policy ≤ ${target} s: ${
      pct(appStalls, 99) <= target ? 'met' : 'NOT met'
    }); ${appErrors} errors (target 0); ratio ≥ 10× where the single Deployment stalls > 5 s: ${
      SKIP_SINGLE
        ? 'not measured (--skip-single)'
        : ratioMisses.length
          ? `NOT met for ${ratioMisses.join(', ')}`
          : 'met'
    }\n`,
  );
}

if (args[0] === '--load') {
  const i = args.indexOf('--tls');
  loadClient(args[1]!, i > 0 ? (JSON.parse(args[i + 1]!) as RequestTls) : undefined);
} else
  await main().catch((err: unknown) => {
    process.stderr.write(
      `failover bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  });
