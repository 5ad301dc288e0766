// Benchmark of the reference licence server on loopback:
//   checkout throughput and p50/p99 latency with synchronous replication, asynchronous
//   replication and none, and synchronous replication with TLS (mutual TLS between the members,
//   clients verifying the CA), side by side with ratios; and the time a standby needs to catch up
//   10,000 leases (fresh standby from a snapshot; restarted standby from the log window).
//
// Two load shapes, both on keep-alive connections from this process (the servers are child
// processes):
//   - saturation: `--concurrency` connections in a closed loop (each sends its next checkout as
//     soon as the answer is in): the most checkouts/s the member serves. Its latencies are mostly
//     queueing (concurrency / throughput), so they depend on the concurrency chosen.
//   - fixed rate: `--rate` checkouts/s offered (Poisson arrivals, an open loop over up to
//     `--rate-connections` connections): the latency at the target load. Each latency counts
//     from the moment the request was due, not from when it could be sent, so a stall of the
//     server (or of this process) counts for every request that fell due during it.
// The setups run at the same time and are measured in interleaved rounds (none, async,
// sync, then async, sync, none, …), so that the shared machine's other load, which changes by
// the second, weighs on each of them alike and the ratios compare like with like.
//
// Run: node test/bench/license-server.ts [--seconds 5] [--rounds 5] [--concurrency 32]
//   [--rate 5000] [--rate-seconds 5] [--rate-connections 64] [--client socket|node-http]
// (or npm run bench -- license-server). Targets: ≥ 5,000 checkouts/s with sync replication,
// p99 < 10 ms, sync ≥ 0.5 × none, sync-tls ≥ 0.8 × sync.
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { feature, makeFixture, PAIR_ID } from '../unit/license-server/fixtures.ts';
import type { Fixture } from '../unit/license-server/fixtures.ts';
import { ServerProcess, adminClient, until } from '../process/harness.ts';
import {
  TlsMember,
  call,
  memberCert,
  newCa,
  operatorCert,
  promoteAsOperator,
  tlsMemberSpec,
} from '../process/tls-members.ts';

const args = process.argv.slice(2);
const arg = (name: string, def: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const SECONDS = arg('seconds', 5);
const ROUNDS = Math.max(1, arg('rounds', 5));
const WARMUP_SECONDS = arg('warmup', 1);
const CONCURRENCY = arg('concurrency', 32);
const RATE = arg('rate', 5000);
const RATE_SECONDS = arg('rate-seconds', 5);
const RATE_CONNECTIONS = arg('rate-connections', 64);
const CATCHUP_LEASES = arg('leases', 10_000);
// the active's LS_SYNC_TIMEOUT_MS (default): a latency this long means it gave up waiting
const SYNC_TIMEOUT_MS = 500;
// --client node-http: the load generator of the first version (node:http's client), for comparison
const CLIENT = args.includes('--client') ? args[args.indexOf('--client') + 1] : 'socket';
if (CLIENT !== 'socket' && CLIENT !== 'node-http') throw new Error('--client socket|node-http');
// --member-node-options "--trace-gc": node's own flags for the member processes, to see where their time goes
const MEMBER_NODE_OPTIONS = args.includes('--member-node-options')
  ? args[args.indexOf('--member-node-options') + 1]
  : undefined;
// --keep: keep the members' logs and state (printed at the end)
const KEEP = args.includes('--keep');

// sync-tls: sync replication with TLS on every port but metrics, mutual TLS between the members,
// as the operator sets pairs up by default; clients verify the pair's CA.
const MODES = ['none', 'async', 'sync', 'sync-tls'] as const;
type Mode = (typeof MODES)[number];

/** What one load shape measured on one setup, summed over its rounds. */
type Measured = {
  latencies: number[];
  errors: number;
  seconds: number;
  /** CPU seconds used while measuring: active, standby, load generator */
  cpu: { active: number; standby: number; load: number };
  /** checkouts/s of each round, in round order */
  rounds: number[];
  /** where the time goes (fixed rate only): the worst of its rounds */
  stalls: Stalls;
};

/** Stall evidence of a load: event-loop delay of each process, GC pauses, the machine's load. */
type Stalls = {
  /** checkouts that took longer than STALL_MS from when they fell due */
  slow: number;
  /** longest event-loop delay, ms: this process (the load generator), the active, the standby */
  loopMaxMs: { load: number; active: number; standby: number };
  /** GC pauses longer than 10 ms, and GC time in seconds, on the active / the standby */
  gcOver10ms: { active: number; standby: number };
  gcSeconds: { active: number; standby: number };
  /** 1-minute load average at the end of the worst round */
  loadavg: number;
};
const STALL_MS = 25;

const emptyMeasured = (): Measured => ({
  latencies: [],
  errors: 0,
  seconds: 0,
  cpu: { active: 0, standby: 0, load: 0 },
  rounds: [],
  stalls: {
    slow: 0,
    loopMaxMs: { load: 0, active: 0, standby: 0 },
    gcOver10ms: { active: 0, standby: 0 },
    gcSeconds: { active: 0, standby: 0 },
    loadavg: 0,
  },
});

/** What a member's /metrics says of its event loop and GC (prom-client's default metrics). */
type Runtime = { loopMaxMs: number; gcCount: number; gcUnder10ms: number; gcSeconds: number };

async function runtimeOf(p: BenchMember | undefined): Promise<Runtime | undefined> {
  if (!p) return undefined;
  const text = await fetch(`${p.metricsUrl}/metrics`).then(
    (r) => r.text(),
    () => '',
  );
  const sum = (re: RegExp): number =>
    text
      .split('\n')
      .filter((l) => re.test(l))
      .reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  return {
    // prom-client resets the event-loop histogram at every scrape: this is the max since the last one
    loopMaxMs: sum(/^nodejs_eventloop_lag_max_seconds /) * 1000,
    gcCount: sum(/^nodejs_gc_duration_seconds_count\{/),
    gcUnder10ms: sum(/^nodejs_gc_duration_seconds_bucket\{le="0\.01",/),
    gcSeconds: sum(/^nodejs_gc_duration_seconds_sum\{/),
  };
}

/** CPU seconds a process has used (Linux /proc; NaN elsewhere). */
function cpuSeconds(pid: number | undefined): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** Nearest-rank percentile of sorted values: the smallest value with at least p % at or below it. */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

let clientSeq = 0;

/**
 * One keep-alive HTTP/1.1 connection that sends a request and reads its whole answer before
 * the next, as a client of the lease API does. Written on a bare socket rather than
 * node:http's client: the load generator shares the machine's two cores with the servers it
 * measures, and node:http's client costs nearly as much CPU per request as the server itself
 * (≈ 55 µs against ≈ 18 µs here; the active needs ≈ 65-85 µs), which the servers then lack. The
 * requests and answers on the wire are the same (see --client node-http).
 */
class Connection {
  private readonly socket: net.Socket;
  private buf: Buffer = Buffer.alloc(0);
  private waiting: ((status: number) => void) | undefined;
  private closed = false;
  private readonly head: string;

  private constructor(socket: net.Socket, host: string) {
    this.socket = socket;
    this.head = `POST /v1/checkout HTTP/1.1\r\nhost: ${host}\r\ncontent-type: application/json\r\n`;
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      this.parse();
    });
    const fail = (): void => {
      this.closed = true;
      const w = this.waiting;
      this.waiting = undefined;
      w?.(0);
    };
    socket.on('error', fail);
    socket.on('close', fail);
  }

  /** `ca`: for an https URL, the bundle the server's certificate must chain to. */
  static open(url: string, ca?: string): Promise<Connection> {
    const { hostname, port, host, protocol } = new URL(url);
    return new Promise((resolve, reject) => {
      const ready = () => {
        socket.off('error', reject);
        resolve(new Connection(socket, host));
      };
      const socket =
        protocol === 'https:'
          ? tls.connect({ host: hostname, port: Number(port), ...(ca ? { ca } : {}) }, ready)
          : net.connect(Number(port), hostname, ready);
      socket.once('error', reject);
    });
  }

  /** POST /v1/checkout; resolves with the answer's status once the whole answer is read (0: failed). */
  checkout(body: string): Promise<number> {
    if (this.closed) return Promise.resolve(0);
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.socket.write(`${this.head}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
  }

  private parse(): void {
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = this.buf.toString('latin1', 0, end);
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (!length) {
      // every answer of the lease API has a content-length; anything else is a failure
      this.socket.destroy();
      return;
    }
    const total = end + 4 + Number(length[1]);
    if (this.buf.length < total) return;
    const status = Number(head.slice(9, 12));
    this.buf = this.buf.subarray(total);
    const w = this.waiting;
    this.waiting = undefined;
    w?.(status);
  }

  close(): void {
    this.socket.destroy();
  }
}

const checkoutBody = (): string => {
  const n = clientSeq++;
  return `{"feature":"bench","clientId":"b${n}","user":"u${n % 50}","host":"h${n % 20}"}`;
};

type Loaded = { latencies: number[]; errors: number; elapsed: number };

/** Closed loop: each connection sends its next checkout as soon as its answer is in. */
async function saturate(conns: Connection[], seconds: number): Promise<Loaded> {
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  await Promise.all(
    conns.map(async (c) => {
      while (performance.now() < end) {
        const t = performance.now();
        const status = await c.checkout(checkoutBody());
        if (status !== 200) errors += 1;
        else latencies.push(performance.now() - t);
        if (status === 0) return;
      }
    }),
  );
  return { latencies, errors, elapsed: (performance.now() - started) / 1000 };
}

/**
 * Open loop: checkouts fall due at `rate` per second (exponential gaps, as from many independent
 * clients) and go out on an idle connection, or wait for one. The latency of each counts from
 * when it fell due. The timer that releases them fires about every millisecond, so up to ~1 ms
 * of this process's own lateness is in every figure (against the server, never for it).
 */
function fixedRate(conns: Connection[], seconds: number, rate: number): Promise<Loaded> {
  const latencies: number[] = [];
  let errors = 0;
  const idle = [...conns];
  const due: number[] = [];
  const started = performance.now();
  const end = started + seconds * 1000;
  const gap = (): number => (-Math.log(1 - Math.random()) * 1000) / rate;
  let next = started + gap();
  let outstanding = 0;
  let releasing = true;
  return new Promise((resolve) => {
    const finish = (): void => {
      if (releasing || outstanding > 0) return;
      // checkouts that never found a connection (every connection failed) are errors
      errors += due.splice(0).length;
      resolve({ latencies, errors, elapsed: (performance.now() - started) / 1000 });
    };
    const send = (c: Connection, at: number): void => {
      outstanding += 1;
      void c.checkout(checkoutBody()).then((status) => {
        outstanding -= 1;
        if (status !== 200) errors += 1;
        else latencies.push(performance.now() - at);
        if (status !== 0) {
          const waiting = due.shift();
          if (waiting === undefined) idle.push(c);
          else send(c, waiting);
        }
        finish();
      });
    };
    const release = (): void => {
      const now = performance.now();
      while (next <= now && next < end) {
        const c = idle.pop();
        if (c) send(c, next);
        else due.push(next);
        next += gap();
      }
      if (next < end) setTimeout(release, Math.min(1, next - now));
      else {
        releasing = false;
        finish();
      }
    };
    release();
  });
}

/** The same closed loop through node:http's client (the first version of this benchmark). */
async function saturateNodeHttp(url: string, seconds: number, concurrency: number): Promise<Loaded> {
  const { hostname, port } = new URL(url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const body = checkoutBody();
      const t = performance.now();
      const req = http.request(
        {
          agent,
          hostname,
          port,
          path: '/v1/checkout',
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode !== 200) errors += 1;
            else latencies.push(performance.now() - t);
            resolve();
          });
        },
      );
      req.on('error', () => {
        errors += 1;
        resolve();
      });
      req.end(body);
    });
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) await one();
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  agent.destroy();
  return { latencies, errors, elapsed };
}

function pairFor(fx: Fixture, mode: Mode, tag: string) {
  const spec = (name: string) => ({
    name: `${tag}-${name}`,
    pairId: PAIR_ID,
    licenceFile: fx.licenceFile,
    publicKeyFile: fx.publicKeyFile,
    tokenFile: fx.tokenFile,
    stateDir: fx.stateDir(`${tag}-${name}`),
    logDir: fx.dir,
    env: {
      LS_REPLICATION_MODE: mode === 'none' ? 'sync' : mode,
      LS_LEASE_TTL_SECONDS: '600',
      LS_LOG_LEVEL: 'warn',
    },
    ...(MEMBER_NODE_OPTIONS ? { nodeArgs: MEMBER_NODE_OPTIONS.split(/\s+/) } : {}),
  });
  return Promise.all([ServerProcess.create(spec('primary')), ServerProcess.create(spec('redundant'))]);
}

/** A running setup: an active member, with its standby unless `none`, and open connections. */
/** What the measurements need of a member process, plaintext or TLS. */
interface BenchMember {
  readonly pid: number | undefined;
  readonly clientUrl: string;
  readonly metricsUrl: string;
  stop(): Promise<void>;
}

const benchMember = (p: ServerProcess): BenchMember => ({
  get pid() {
    return p.child?.pid;
  },
  clientUrl: p.clientUrl,
  metricsUrl: p.metricsUrl,
  stop: () => p.stop(),
});

type Setup = {
  mode: Mode;
  primary: BenchMember;
  redundant: BenchMember;
  /** the pair's CA bundle (sync-tls) */
  ca?: string;
  /** the active's process, for its status (plaintext setups) */
  activeProcess?: ServerProcess;
  saturating: Connection[];
  rated: Connection[];
  saturation: Measured;
  fixed: Measured;
};

async function startSetup(fx: Fixture, mode: Mode): Promise<Setup> {
  if (mode === 'sync-tls') return startTlsSetup(fx);
  const admin = adminClient(() => fx.token);
  const [primary, redundant] = await pairFor(fx, mode, mode);
  if (mode === 'none') await primary.start();
  else await Promise.all([primary.start(redundant), redundant.start(primary)]);
  await admin.post(primary, '/v1/admin/promote', { epoch: 1 });
  if (mode !== 'none')
    await until(
      'standby in sync',
      async () => (await admin.status(redundant)).replication.state === 'in-sync',
    );
  return {
    mode,
    primary: benchMember(primary),
    redundant: benchMember(redundant),
    activeProcess: primary,
    saturating: await openPrimed(primary.clientUrl, CONCURRENCY),
    rated: [],
    saturation: emptyMeasured(),
    fixed: emptyMeasured(),
  };
}

/** The sync setup with TLS: certificates from a CA of its own, as the operator issues them. */
async function startTlsSetup(fx: Fixture): Promise<Setup> {
  const ca = await newCa('bench CA');
  const op = await operatorCert(ca);
  const spec = (name: string) =>
    tlsMemberSpec(fx, `tls-${name}`, {
      LS_REPLICATION_MODE: 'sync',
      LS_LEASE_TTL_SECONDS: '600',
      LS_LOG_LEVEL: 'warn',
    });

  const [primary, redundant] = await Promise.all([
    TlsMember.create(spec('primary')),
    TlsMember.create(spec('redundant')),
  ]);
  for (const [m, member] of [
    [primary, 'primary'],
    [redundant, 'redundant'],
  ] as const) {
    const c = await memberCert(ca, PAIR_ID, member);
    m.secret.write({ cert: c.certPem, key: c.keyPem, ca: ca.certPem });
  }
  await Promise.all([primary.start(redundant, ca.certPem), redundant.start(primary, ca.certPem)]);
  const asOperator = { ca: ca.certPem, cert: op, token: fx.token };
  await promoteAsOperator(primary, { ca: ca.certPem, operator: op, token: fx.token });
  await until('TLS standby in sync', async () => {
    const r = await call(redundant.adminUrl, '/v1/status', asOperator);
    return (r.body['replication'] as { state?: string } | undefined)?.state === 'in-sync';
  });
  return {
    mode: 'sync-tls',
    primary,
    redundant,
    ca: ca.certPem,
    saturating: await openPrimed(primary.clientUrl, CONCURRENCY, ca.certPem),
    rated: [],
    saturation: emptyMeasured(),
    fixed: emptyMeasured(),
  };
}

/**
 * Open connections and send one checkout on each: a connection that has not sent a request is
 * closed by the server after its headers timeout (10 s), one that has is kept alive for 30 s.
 */
async function openPrimed(url: string, n: number, ca?: string): Promise<Connection[]> {
  const conns = await Promise.all(Array.from({ length: n }, () => Connection.open(url, ca)));
  for (const status of await Promise.all(conns.map((c) => c.checkout(checkoutBody()))))
    if (status !== 200) throw new Error(`checkout answered ${status}`);
  return conns;
}

async function stopSetup(s: Setup): Promise<void> {
  for (const c of [...s.saturating, ...s.rated]) c.close();
  await Promise.all([s.primary.stop(), s.redundant.stop()]);
}

/** Run one round of a load on a setup and add its figures (latencies, CPU of each process). */
async function measure(s: Setup, into: Measured, run: () => Promise<Loaded>): Promise<void> {
  const pids = [s.primary.pid, s.mode === 'none' ? undefined : s.redundant.pid];
  const members = [s.primary, s.mode === 'none' ? undefined : s.redundant];
  // Scraped just before: the members' event-loop maxima then cover this round only.
  const rt0 = await Promise.all(members.map(runtimeOf));
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const cpu0 = pids.map(cpuSeconds);
  const own0 = process.cpuUsage();
  const r = await run();
  const own = process.cpuUsage(own0);
  loop.disable();
  const rt1 = await Promise.all(members.map(runtimeOf));
  const st = into.stalls;
  st.slow += r.latencies.filter((l) => l > STALL_MS).length;
  const loadLoop = loop.max / 1e6;
  if (loadLoop > st.loopMaxMs.load) st.loopMaxMs.load = loadLoop;
  (['active', 'standby'] as const).forEach((role, i) => {
    const [a, b] = [rt0[i], rt1[i]];
    if (!a || !b) return;
    st.loopMaxMs[role] = Math.max(st.loopMaxMs[role], b.loopMaxMs);
    st.gcOver10ms[role] += b.gcCount - b.gcUnder10ms - (a.gcCount - a.gcUnder10ms);
    st.gcSeconds[role] += b.gcSeconds - a.gcSeconds;
  });
  st.loadavg = Math.max(st.loadavg, os.loadavg()[0] ?? 0);
  const [a, b] = pids.map((p, i) => cpuSeconds(p) - (cpu0[i] as number)) as [number, number];
  for (const l of r.latencies) into.latencies.push(l);
  into.errors += r.errors;
  into.seconds += r.elapsed;
  into.cpu.active += a;
  into.cpu.standby += b;
  into.cpu.load += (own.user + own.system) / 1e6;
  into.rounds.push(r.latencies.length / r.elapsed);
}

/** Round r runs the setups in the order rotated by r, so none of them is always first or last. */
function rotated<T>(xs: readonly T[], r: number): T[] {
  return xs.map((_, i) => xs[(i + r) % xs.length] as T);
}

async function checkoutMany(url: string, n: number): Promise<void> {
  const conns = await Promise.all(Array.from({ length: CONCURRENCY }, () => Connection.open(url)));
  let next = 0;
  await Promise.all(
    conns.map(async (c) => {
      while (next++ < n) {
        const status = await c.checkout(checkoutBody());
        if (status !== 200) throw new Error(`checkout answered ${status}`);
      }
    }),
  );
  for (const c of conns) c.close();
}

async function catchUp(fx: Fixture): Promise<{ fresh: number; freshFromUp: number; restarted: number }> {
  const admin = adminClient(() => fx.token);
  const [primary, redundant] = await pairFor(fx, 'sync', 'catchup');
  const caughtUp = async (): Promise<boolean> => {
    const [a, b] = [await admin.status(primary), await admin.status(redundant)];
    return b.replication.state === 'in-sync' && a.replication.lastSeq === b.replication.lastSeq;
  };
  // The active serves without its standby here, as it does under the operator's grant to serve
  // alone (docs/reliability.md, R3): the bench plays the operator.
  const serveAlone = async (): Promise<void> => {
    const st = await admin.status(primary);
    const r = await admin.post(primary, '/v1/admin/grant', {
      epoch: st.epoch,
      anchor: st.serving!.anchor,
      ms: 600_000,
    });
    if (r.status !== 200) throw new Error(`grant answered ${r.status}: ${JSON.stringify(r.body)}`);
  };
  try {
    await primary.start(redundant);
    await admin.post(primary, '/v1/admin/promote', { epoch: 1 });
    await serveAlone();
    await checkoutMany(primary.clientUrl, CATCHUP_LEASES);
    // a fresh standby: snapshot + stream
    const t0 = performance.now();
    await redundant.start(primary);
    const tUp = performance.now();
    await until('fresh standby caught up', caughtUp, 120_000);
    const t1 = performance.now();
    const leases = (await admin.status(redundant)).activeLeases;
    if (leases < CATCHUP_LEASES) throw new Error(`standby has ${leases} leases`);
    // a restarted standby: its journal, then the log window of the active
    await redundant.kill('SIGKILL');
    await serveAlone();
    await checkoutMany(primary.clientUrl, CATCHUP_LEASES);
    const t2 = performance.now();
    await redundant.start(primary);
    await until('restarted standby caught up', caughtUp, 120_000);
    const t3 = performance.now();
    return { fresh: t1 - t0, freshFromUp: t1 - tUp, restarted: t3 - t2 };
  } finally {
    await Promise.all([primary.stop(), redundant.stop()]);
  }
}

async function main(): Promise<void> {
  const fx = makeFixture([feature('bench', 100_000_000)]);
  const admin = adminClient(() => fx.token);
  const setups: Setup[] = [];
  try {
    console.log(
      `licence-server benchmark, loopback, unique client ids, keep-alive connections (${CLIENT} client); ` +
        `the setups run side by side and are measured in ${ROUNDS} interleaved rounds`,
    );
    for (const mode of MODES) setups.push(await startSetup(fx, mode));
    for (const s of setups) await saturate(s.saturating, WARMUP_SECONDS);
    const slice = SECONDS / ROUNDS;
    for (let r = 0; r < ROUNDS; r++)
      for (const s of rotated(setups, r))
        await measure(s, s.saturation, () =>
          CLIENT === 'node-http'
            ? saturateNodeHttp(s.primary.clientUrl, slice, CONCURRENCY)
            : saturate(s.saturating, slice),
        );
    const rateSlice = RATE_SECONDS / ROUNDS;
    if (RATE > 0)
      for (const s of setups) s.rated = await openPrimed(s.primary.clientUrl, RATE_CONNECTIONS, s.ca);
    if (RATE > 0)
      for (let r = 0; r < ROUNDS; r++)
        for (const s of rotated(setups, r))
          await measure(s, s.fixed, () => fixedRate(s.rated, rateSlice, RATE));
    const sync = setups[2] as Setup;
    const st = await admin.status(sync.activeProcess!);
    if (st.replication.mode !== 'sync')
      console.warn(`warning: the sync active is now in ${String(st.replication.mode)} mode`);
    for (const s of setups) {
      s.saturation.latencies.sort((x, y) => x - y);
      s.fixed.latencies.sort((x, y) => x - y);
    }

    const none = setups[0] as Setup;
    const rate = (m: Measured): number => m.latencies.length / m.seconds;
    const ms = (x: number): string => (Number.isNaN(x) ? '-' : x.toFixed(2));
    const cores = (x: number, m: Measured): string => (Number.isNaN(x) ? '?' : (x / m.seconds).toFixed(2));
    const perCheckout = (x: number, m: Measured): string =>
      Number.isNaN(x) || m.latencies.length === 0 ? '?' : ((x / m.latencies.length) * 1e6).toFixed(0);
    const row = (cells: string[], widths: number[]): string =>
      cells
        .map((c, i) => (i === 0 ? c.padEnd(widths[0] as number) : c.padStart(widths[i] as number)))
        .join('');
    const table = (title: string, which: 'saturation' | 'fixed', first: string): void => {
      const w = [12, 13, 9, 9, 9, 8, 9, 16, 17, 20];
      console.log(`\n${title}`);
      console.log(
        row(
          [
            'replication',
            first,
            'p50 ms',
            'p99 ms',
            'max ms',
            'errors',
            'vs none',
            'rounds vs none',
            'CPU µs/checkout',
            'cores act/stb/load',
          ],
          w,
        ),
      );
      for (const s of setups) {
        const m = s[which];
        const n = none[which];
        const perRound = m.rounds.map((x, i) => x / (n.rounds[i] as number));
        const spread =
          s.mode === 'none' ? '' : `${Math.min(...perRound).toFixed(2)}–${Math.max(...perRound).toFixed(2)}x`;
        console.log(
          row(
            [
              s.mode,
              rate(m).toFixed(0),
              ms(percentile(m.latencies, 50)),
              ms(percentile(m.latencies, 99)),
              ms(m.latencies[m.latencies.length - 1] ?? NaN),
              String(m.errors),
              `${(rate(m) / rate(n)).toFixed(2)}x`,
              spread,
              `${perCheckout(m.cpu.active, m)}/${s.mode === 'none' ? '-' : perCheckout(m.cpu.standby, m)}`,
              `${cores(m.cpu.active, m)}/${s.mode === 'none' ? '-' : cores(m.cpu.standby, m)}/${cores(m.cpu.load, m)}`,
            ],
            w,
          ),
        );
      }
    };
    table(
      `saturation: ${CONCURRENCY} connections in a closed loop, ${ROUNDS} × ${slice.toFixed(1)} s per setup ` +
        `after ${WARMUP_SECONDS} s warm-up (latency here is mostly queueing: ${CONCURRENCY} / throughput)`,
      'saturation',
      'checkouts/s',
    );
    if (RATE > 0)
      table(
        `fixed rate: ${RATE} checkouts/s offered (Poisson), up to ${RATE_CONNECTIONS} connections, ` +
          `${ROUNDS} × ${rateSlice.toFixed(1)} s per setup; latency from when each checkout fell due`,
        'fixed',
        'served/s',
      );
    if (RATE > 0) {
      console.log(
        `\nwhere the time goes at ${RATE}/s (worst round for delays; sums for counts): checkouts slower than ${STALL_MS} ms, ` +
          'longest event-loop delay of the load generator / active / standby, GC pauses > 10 ms and GC time of active / standby',
      );
      for (const s of setups) {
        const st = s.fixed.stalls;
        const standby = (x: number, f: (v: number) => string) => (s.mode === 'none' ? '-' : f(x));
        console.log(
          `${s.mode.padEnd(6)} slow ${String(st.slow).padStart(5)}  loop max ${st.loopMaxMs.load.toFixed(0)}/` +
            `${st.loopMaxMs.active.toFixed(0)}/${standby(st.loopMaxMs.standby, (v) => v.toFixed(0))} ms  ` +
            `GC>10ms ${st.gcOver10ms.active}/${standby(st.gcOver10ms.standby, String)}  ` +
            `GC ${st.gcSeconds.active.toFixed(3)}/${standby(st.gcSeconds.standby, (v) => v.toFixed(3))} s  ` +
            `load avg ${st.loadavg.toFixed(2)} on ${os.cpus().length} cores`,
        );
      }
    }
    const slowest = Math.max(
      sync.saturation.latencies[sync.saturation.latencies.length - 1] ?? 0,
      sync.fixed.latencies[sync.fixed.latencies.length - 1] ?? 0,
    );
    if (slowest >= SYNC_TIMEOUT_MS)
      console.warn(
        `warning: a sync checkout took ${slowest.toFixed(0)} ms: the active may have stopped waiting for the standby then`,
      );
    const measuredSetups = [...setups];
    for (const s of setups.splice(0)) await stopSetup(s);

    const c = await catchUp(fx);
    console.log(
      `\nstandby catch-up of ${CATCHUP_LEASES} leases: fresh standby ${(c.fresh / 1000).toFixed(2)} s ` +
        `(${(c.freshFromUp / 1000).toFixed(2)} s after its process answered), ` +
        `restarted standby (journal + log window) ${(c.restarted / 1000).toFixed(2)} s incl. process start`,
    );
    const syncRate = rate(sync.saturation);
    const checks: [string, boolean][] = [
      [`sync ≥ 5000 checkouts/s`, syncRate >= 5000],
      [`sync ≥ 0.5 × none`, syncRate >= 0.5 * rate(none.saturation)],
      [`sync p99 < 10 ms at saturation`, percentile(sync.saturation.latencies, 99) < 10],
      [`sync-tls ≥ 0.8 × sync`, rate((measuredSetups[3] as Setup).saturation) >= 0.8 * syncRate],
    ];
    if (RATE > 0)
      checks.push([
        `sync p99 < 10 ms at ${RATE}/s`,
        percentile(sync.fixed.latencies, 99) < 10 && rate(sync.fixed) >= 0.98 * RATE,
      ]);
    console.log(`\ntargets: ${checks.map(([n, ok]) => `${n}: ${ok ? 'met' : 'NOT met'}`).join('; ')}`);
  } finally {
    await Promise.all(setups.map(stopSetup));
    if (KEEP) console.log(`members' logs and state kept in ${fx.dir}`);
    else fx.cleanup();
  }
}

// Interrupted: stop the licence servers it started before going.
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.on(signal, () => void ServerProcess.stopAll().finally(() => process.exit(130)));
await main();
