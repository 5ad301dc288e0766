// Licence load and invariant sampler for the end-to-end failover tests, run as a child process so
// that the test's synchronous kubectl/ctr calls never stall it.
//
// Clients: `clients` licence users, each checks out one seat of `feature` through the pair's
// ClusterIP and renews it every second — a NEW connection per request (an established connection
// stays on the old pod through conntrack; a new one follows the Service as kube-proxy routes it).
// A client remembers the lease it was told it holds; the server answering LEASE_NOT_FOUND or
// LEASE_EXPIRED for it, or a checkout handing it a different lease, is a lost or doubled lease.
//
// Sampler, every 250 ms: each member pod's seat usage (/v1/features) and role (/v1/status, with
// the pair's admin token), and the ready endpoints of the pair's Service. Seats in use above the
// licensed seats, two ready endpoints, two members active in the same epoch, or two members that
// both say they may grant (their serving rights, docs/reliability.md) are violations.
//
// Protocol: one JSON line on stdin `{"cmd":"report","since":<ms>}` → one JSON line on stdout with
// the report (longestGapSeconds: the client-observed outage since `since`);
// `{"cmd":"leases","ip":"<pod IP>","member":"primary"}` → that member's /v1/admin/leases answer
// for the feature (or `null`), read from where this process runs (on the multi-node bed: the
// operator pod's network, which the pair's NetworkPolicy lets reach the admin port).
import * as k8s from '@kubernetes/client-node';
import { createInterface } from 'node:readline';
import { requestOnNewConnection, type RequestTls } from '../support/http.ts';
import { clientServerName, memberServerName, type PairTls } from '../support/pair-tls.ts';

export interface LoadConfig {
  kubeconfig: string;
  namespace: string;
  pair: string;
  clusterIP: string;
  port: number;
  feature: string;
  clients: number;
  /** The pair serves TLS: its CA, and the operator identity the members' status needs. */
  tls?: Required<PairTls>;
}

export interface LoadReport {
  /** clientId → lease id the server last confirmed. */
  held: Record<string, string>;
  /** Lease ids first granted, per client, in order (a second entry means a second lease). */
  granted: Record<string, string[]>;
  lost: { clientId: string; leaseId: string; code: string; at: number }[];
  seatViolations: { at: number; member: string; inUse: number; seats: number }[];
  multipleEndpoints: { at: number; addresses: string[] }[];
  twoActive: { at: number; epochs: number[] }[];
  /** Samples in which two members both said they may grant (each member's own serving right). */
  twoGranting: { at: number; epochs: number[] }[];
  maxInUse: number;
  samples: number;
  /** Samples in which a member answered /v1/status, and in which the Service had one ready endpoint. */
  statusAnswers: number;
  oneEndpoint: number;
  /** Longest time without a successful answer since the `since` of the report request, s. */
  longestGapSeconds: number;
  /** Successful renewals / checkouts, and failed attempts by cause. */
  ok: number;
  failures: Record<string, number>;
  lastOkAt: number;
  lastFailAt: number;
}

const REQUEST_TIMEOUT_MS = 1000;

function run(cfg: LoadConfig): void {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(cfg.kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const discovery = kc.makeApiClient(k8s.DiscoveryV1Api);
  const scheme = cfg.tls ? 'https' : 'http';
  const url = (p: string) => `${scheme}://${cfg.clusterIP}:${cfg.port}${p}`;
  // Clients check the pair's certificate; the operator's identity is for the members' status only.
  const clientTls = cfg.tls
    ? { ca: cfg.tls.ca, servername: clientServerName(cfg.namespace, cfg.pair) }
    : undefined;
  const memberTls = (member: string) =>
    cfg.tls ? { ...cfg.tls, servername: memberServerName(cfg.namespace, cfg.pair, member) } : undefined;
  const report: LoadReport = {
    held: {},
    granted: {},
    lost: [],
    seatViolations: [],
    multipleEndpoints: [],
    twoActive: [],
    twoGranting: [],
    maxInUse: 0,
    samples: 0,
    statusAnswers: 0,
    oneEndpoint: 0,
    longestGapSeconds: 0,
    ok: 0,
    failures: {},
    lastOkAt: 0,
    lastFailAt: 0,
  };
  const failed = (why: string) => {
    report.failures[why] = (report.failures[why] ?? 0) + 1;
    report.lastFailAt = Date.now();
  };
  const okTimes: number[] = [];
  const succeeded = () => {
    report.ok++;
    report.lastOkAt = Date.now();
    okTimes.push(report.lastOkAt);
  };
  const longestGap = (since: number) => {
    let prev = okTimes.filter((t) => t <= since).at(-1) ?? since;
    let gap = 0;
    for (const t of okTimes.filter((x) => x > since)) {
      gap = Math.max(gap, t - prev);
      prev = t;
    }
    return Math.max(gap, Date.now() - prev) / 1000;
  };

  const clientTick = async (i: number) => {
    const clientId = `e2e-load-${i}`;
    const held = report.held[clientId];
    const body = held
      ? { leaseId: held, clientId }
      : { feature: cfg.feature, clientId, user: `user-${i}`, host: 'e2e-load-host' };
    let r: { status: number; body: string };
    try {
      r = await requestOnNewConnection(url(held ? '/v1/renew' : '/v1/checkout'), {
        json: body,
        timeoutMs: REQUEST_TIMEOUT_MS,
        ...(clientTls ? { tls: clientTls } : {}),
      });
    } catch (err) {
      failed((err as NodeJS.ErrnoException).code ?? 'error');
      return;
    }
    let answer: { lease?: { id: string }; code?: string };
    try {
      answer = JSON.parse(r.body) as typeof answer;
    } catch {
      failed(`${r.status} non-JSON`);
      return;
    }
    if (r.status === 200 && answer.lease) {
      succeeded();
      const list = (report.granted[clientId] ??= []);
      if (!list.includes(answer.lease.id)) list.push(answer.lease.id);
      report.held[clientId] = answer.lease.id;
      return;
    }
    if (held && (answer.code === 'LEASE_NOT_FOUND' || answer.code === 'LEASE_EXPIRED')) {
      // The server forgot a lease it had confirmed: the very thing replication must prevent.
      report.lost.push({ clientId, leaseId: held, code: answer.code, at: Date.now() });
      delete report.held[clientId];
    }
    failed(`${r.status} ${answer.code ?? ''}`.trim());
  };

  let token: string | undefined;
  const sample = async () => {
    const at = Date.now();
    if (!token) {
      const s = await core.readNamespacedSecret({
        namespace: cfg.namespace,
        name: `${cfg.pair}-admin-token`,
      });
      token = Buffer.from(s.data?.token ?? '', 'base64').toString('utf8');
    }
    const pods = await core.listNamespacedPod({
      namespace: cfg.namespace,
      labelSelector: `lpo.dev/pair=${cfg.pair}`,
    });
    const actives: number[] = [];
    const granting: number[] = [];
    await Promise.all(
      pods.items.map(async (pod) => {
        const ip = pod.status?.podIP;
        const member = pod.metadata?.labels?.['lpo.dev/member'] ?? '?';
        if (!ip) return;
        const features = await fetchJson<{ features: { name: string; seats: number; inUse: number }[] }>(
          `${scheme}://${ip}:${cfg.port}/v1/features`,
          undefined,
          memberTls(member),
        );
        const f = features?.features.find((x) => x.name === cfg.feature);
        if (f) {
          report.maxInUse = Math.max(report.maxInUse, f.inUse);
          if (f.inUse > f.seats) report.seatViolations.push({ at, member, inUse: f.inUse, seats: f.seats });
        }
        const st = await fetchJson<{ role: string; epoch: number; serving?: { mayGrant: boolean } }>(
          `${scheme}://${ip}:7071/v1/status`,
          token,
          memberTls(member),
        );
        if (st) report.statusAnswers++;
        if (st?.role === 'active') actives.push(st.epoch);
        if (st?.role === 'active' && st.serving?.mayGrant) granting.push(st.epoch);
      }),
    );
    if (actives.length > 1 && new Set(actives).size < actives.length)
      report.twoActive.push({ at, epochs: actives });
    if (granting.length > 1) report.twoGranting.push({ at, epochs: granting });
    const slices = await discovery.listNamespacedEndpointSlice({
      namespace: cfg.namespace,
      labelSelector: `kubernetes.io/service-name=${cfg.pair}`,
    });
    const ready = slices.items.flatMap((s) =>
      (s.endpoints ?? []).filter((e) => e.conditions?.ready !== false).flatMap((e) => e.addresses),
    );
    if (ready.length > 1) report.multipleEndpoints.push({ at, addresses: ready });
    if (ready.length === 1) report.oneEndpoint++;
    report.samples++;
  };

  const timers: NodeJS.Timeout[] = [];
  for (let i = 0; i < cfg.clients; i++) {
    // Spread the clients over the second so that a failover window is sampled evenly.
    const start = setTimeout(
      () => timers.push(setInterval(() => void clientTick(i), 1000)),
      (i * 1000) / cfg.clients,
    );
    timers.push(start);
  }
  let sampling = false;
  timers.push(
    setInterval(() => {
      if (sampling) return;
      sampling = true;
      sample()
        .catch(() => undefined)
        .finally(() => (sampling = false));
    }, 250),
  );

  // Answers go out in the order the commands came in, whatever each one waits for.
  let answering = Promise.resolve();
  createInterface({ input: process.stdin }).on('line', (line) => {
    const msg = JSON.parse(line) as { cmd: string; since?: number; ip?: string; member?: string };
    answering = answering.then(async () => {
      if (msg.cmd === 'report')
        process.stdout.write(
          `${JSON.stringify({ ...report, longestGapSeconds: msg.since ? longestGap(msg.since) : 0 })}\n`,
        );
      else if (msg.cmd === 'leases') {
        const leases = await fetchJson<unknown>(
          `${scheme}://${msg.ip}:7071/v1/admin/leases?feature=${cfg.feature}`,
          token,
          memberTls(msg.member!),
        );
        process.stdout.write(`${JSON.stringify(leases ?? null)}\n`);
      }
    });
  });
  process.stdin.on('end', () => {
    for (const t of timers) clearInterval(t);
    process.exit(0);
  });
}

async function fetchJson<T>(
  url: string,
  token: string | undefined,
  tls: RequestTls | undefined,
): Promise<T | undefined> {
  try {
    const res = await requestOnNewConnection(url, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      timeoutMs: REQUEST_TIMEOUT_MS,
      ...(tls ? { tls } : {}),
    });
    return res.status >= 200 && res.status < 300 ? (JSON.parse(res.body) as T) : undefined;
  } catch {
    return undefined;
  }
}

if (process.argv[2] === '--run') run(JSON.parse(process.argv[3]!) as LoadConfig);
