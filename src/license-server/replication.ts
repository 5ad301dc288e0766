// Replication between the two members. The standby PULLS from the active:
//
//   GET /v1/replication/snapshot                       → the whole ledger at seq S
//   GET /v1/replication/entries?after=S&afterEpoch=E   → entries S+1.. (long-poll up to `wait` ms)
//
// `after`/`afterEpoch` name the last entry the standby has applied; they are also its
// acknowledgement. The active answers SNAPSHOT_REQUIRED when it cannot prove the standby's
// log is a prefix of its own (entry S has another epoch: a fork left by an old active, or S
// is no longer in the in-memory window).
//
// Synchronous mode: the active holds a client's answer until the standby has acknowledged the
// entry, while the standby is connected and in sync. If the ack does not come within
// `syncTimeoutMs`, the active goes on asynchronously (lag visible in status/metrics) until the
// standby has caught up again.
import type { LedgerSnapshot, LogEntry } from './ledger.ts';
import type { ReplicationState } from './protocol.ts';

type Ringed = { entry: LogEntry; at: number };
type Poller = { after: number; respond: (entries: LogEntry[]) => void; timer: NodeJS.Timeout };
type Waiter = { seq: number; resolve: () => void };

export type SourceOptions = {
  mode: 'sync' | 'async';
  syncTimeoutMs: number;
  /** entries kept in memory for a standby to resume from (default 200 000) */
  windowSize?: number;
  /** max entries in one answer (default 10 000) */
  batchSize?: number;
  now?: () => number;
};

/** The active member's side: the in-memory log window, long-polls, acks, sync waiters. */
export class ReplicationSource {
  readonly mode: 'sync' | 'async';
  private readonly syncTimeoutMs: number;
  private readonly windowSize: number;
  private readonly batchSize: number;
  private readonly now: () => number;
  private ring: Ringed[] = [];
  private baseSeq = 0;
  private baseEpoch = 0;
  private pollers = new Set<Poller>();
  private waiters: Waiter[] = [];
  private acked = 0;
  private lastPollAt = -Infinity;
  private syncHealthy = false;
  private known = false;
  private lastSyncTimeoutAt = -Infinity;

  constructor(opts: SourceOptions) {
    this.mode = opts.mode;
    this.syncTimeoutMs = opts.syncTimeoutMs;
    this.windowSize = opts.windowSize ?? 200_000;
    this.batchSize = opts.batchSize ?? 10_000;
    this.now = opts.now ?? (() => performance.now());
  }

  /** Start the window after the given (seq, epoch), e.g. after loading a snapshot. */
  reset(seq: number, epoch: number): void {
    this.ring = [];
    this.baseSeq = seq;
    this.baseEpoch = epoch;
    this.failWaiters();
  }

  get lastSeq(): number {
    const last = this.ring[this.ring.length - 1];
    return last ? last.entry.seq : this.baseSeq;
  }

  /** Record entries the active produced (in order) and wake long-polls. */
  push(entries: readonly LogEntry[]): void {
    if (entries.length === 0) return;
    const at = this.now();
    for (const entry of entries) this.ring.push({ entry, at });
    if (this.ring.length > this.windowSize) {
      const drop = this.ring.length - Math.floor(this.windowSize / 2);
      const last = this.ring[drop - 1] as Ringed;
      this.baseSeq = last.entry.seq;
      this.baseEpoch = last.entry.epoch;
      this.ring = this.ring.slice(drop);
    }
    // Answer long-polls once per turn of the event loop, so that the entries of all requests
    // handled in this turn travel to the standby in one response.
    if (!this.answerScheduled && this.pollers.size > 0) {
      this.answerScheduled = true;
      setImmediate(() => {
        this.answerScheduled = false;
        for (const p of [...this.pollers]) if (p.after < this.lastSeq) this.answer(p);
      });
    }
  }
  private answerScheduled = false;

  /** Resolves when the client may be told about `seq` (sync: the standby has it, or timeout). */
  waitFor(seq: number): Promise<void> {
    if (this.mode !== 'sync' || !this.syncHealthy || !this.connected() || this.acked >= seq)
      return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push({ seq, resolve });
      if (this.waiters.length === 1) this.armTimeout();
    });
  }

  private timeout: NodeJS.Timeout | undefined;
  private armTimeout(): void {
    if (this.timeout) clearTimeout(this.timeout);
    const first = this.waiters[0];
    if (!first) return;
    const seq = first.seq;
    this.timeout = setTimeout(() => {
      if (this.waiters[0]?.seq === seq && this.acked < seq) {
        // The standby did not acknowledge in time: go on asynchronously until it catches up.
        this.syncHealthy = false;
        this.lastSyncTimeoutAt = this.now();
        this.failWaiters();
      }
    }, this.syncTimeoutMs);
  }

  private failWaiters(): void {
    const w = this.waiters;
    this.waiters = [];
    if (this.timeout) clearTimeout(this.timeout);
    this.timeout = undefined;
    for (const x of w) x.resolve();
  }

  /**
   * A standby asks for entries after (seq, epoch). Returns 'snapshot' when it must resync,
   * otherwise calls `respond` now or when entries arrive / `waitMs` passes.
   */
  poll(
    after: number,
    afterEpoch: number,
    waitMs: number,
    respond: (e: LogEntry[]) => void,
  ): 'snapshot' | 'ok' {
    if (!this.matches(after, afterEpoch)) {
      this.lastPollAt = this.now();
      this.known = true;
      return 'snapshot';
    }
    this.ack(after);
    const p: Poller = {
      after,
      respond,
      timer: setTimeout(() => {
        this.pollers.delete(p);
        respond([]);
      }, waitMs),
    };
    if (after < this.lastSeq || waitMs === 0) this.answer(p);
    else this.pollers.add(p);
    return 'ok';
  }

  /** The standby's connection went away before its poll was answered. */
  cancel(respond: (e: LogEntry[]) => void): void {
    for (const p of this.pollers)
      if (p.respond === respond) {
        clearTimeout(p.timer);
        this.pollers.delete(p);
      }
  }

  private answer(p: Poller): void {
    clearTimeout(p.timer);
    this.pollers.delete(p);
    const from = p.after - this.baseSeq; // index of entry after+1
    p.respond(this.ring.slice(from, from + this.batchSize).map((r) => r.entry));
  }

  private matches(after: number, afterEpoch: number): boolean {
    if (after === this.baseSeq) return afterEpoch === this.baseEpoch;
    if (after < this.baseSeq || after > this.lastSeq) return false;
    return this.ring[after - this.baseSeq - 1]?.entry.epoch === afterEpoch;
  }

  private ack(seq: number): void {
    this.known = true;
    this.lastPollAt = this.now();
    this.acked = seq;
    if (seq >= this.lastSeq) this.syncHealthy = true;
    let n = 0;
    while (n < this.waiters.length && (this.waiters[n] as Waiter).seq <= seq) n += 1;
    if (n > 0) {
      const done = this.waiters.splice(0, n);
      for (const w of done) w.resolve();
      this.armTimeout();
    }
  }

  connected(): boolean {
    return this.pollers.size > 0 || this.now() - this.lastPollAt < 3000;
  }

  state(): ReplicationState {
    if (!this.known || !this.connected()) return 'disconnected';
    return this.syncHealthy && this.acked >= this.lastSeq - this.batchSize ? 'in-sync' : 'catching-up';
  }

  effectiveMode(): 'sync' | 'async' {
    return this.mode === 'sync' && this.syncHealthy && this.connected() ? 'sync' : 'async';
  }

  lag(): { entries: number; seconds: number } {
    if (!this.known) return { entries: 0, seconds: 0 };
    const entries = Math.max(0, this.lastSeq - this.acked);
    if (entries === 0) return { entries, seconds: 0 };
    const firstUnacked = this.ring[this.acked - this.baseSeq];
    const seconds = firstUnacked ? (this.now() - firstUnacked.at) / 1000 : 0;
    return { entries, seconds };
  }

  peerLastSeenSeconds(): number | null {
    if (this.pollers.size > 0) return 0;
    return Number.isFinite(this.lastPollAt) ? (this.now() - this.lastPollAt) / 1000 : null;
  }

  sinceSyncTimeoutSeconds(): number | null {
    return Number.isFinite(this.lastSyncTimeoutAt) ? (this.now() - this.lastSyncTimeoutAt) / 1000 : null;
  }

  /** Stop: answer every long-poll, release every waiter (on demotion or shutdown). */
  close(): void {
    for (const p of [...this.pollers]) {
      clearTimeout(p.timer);
      this.pollers.delete(p);
      p.respond([]);
    }
    this.failWaiters();
    this.syncHealthy = false;
    this.known = false;
  }
}

// ------------------------------------------------------------------------------- standby side

export type EntriesResponse = {
  role: 'active' | 'standby';
  epoch: number;
  lastSeq: number;
  wall: number;
  advertiseUrl: string | null;
  entries: LogEntry[];
};
export type SnapshotResponse = {
  role: 'active' | 'standby';
  epoch: number;
  wall: number;
  advertiseUrl: string | null;
  ledger: LedgerSnapshot;
};

/** What a follower needs from the member it belongs to. */
export type FollowerHost = {
  position(): { seq: number; epoch: number };
  memberName(): string;
  memberEpoch(): number;
  applyEntries(entries: LogEntry[]): void;
  applySnapshot(snap: SnapshotResponse): void;
  /** the peer showed an epoch; the host steps down / records it */
  sawPeer(info: {
    role: 'active' | 'standby';
    epoch: number;
    wall: number;
    advertiseUrl: string | null;
  }): void;
  log(level: 'info' | 'warn', msg: string, extra?: Record<string, unknown>): void;
};

export type FollowerOptions = {
  peerUrl: string;
  token: () => string;
  waitMs?: number;
  retryMs?: number;
  requestTimeoutMs?: number;
  now?: () => number;
};

export class PeerError extends Error {
  override name = 'PeerError';
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** GET a JSON document from the peer's admin port. */
export async function peerGet<T>(url: string, token: string, timeoutMs: number): Promise<T> {
  const res = await fetch(url, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new PeerError(res.status, 'BAD_RESPONSE', `peer answered ${res.status} with non-JSON`);
  }
  if (!res.ok) {
    const b = body as { code?: string; message?: string };
    throw new PeerError(res.status, b.code ?? 'UNKNOWN', b.message ?? `peer answered ${res.status}`);
  }
  return body as T;
}

/** The standby's pull loop. */
export class Follower {
  private readonly opts: Required<Omit<FollowerOptions, 'token'>> & { token: () => string };
  private readonly host: FollowerHost;
  private running = false;
  private loop: Promise<void> | undefined;
  private abort: AbortController | undefined;
  private needSnapshot = false;
  private lastOkAt = -Infinity;
  private activeLastSeq: number | undefined;
  private caughtUpAt = -Infinity;
  private following = false;
  private peerActive = false;
  skewSeconds: number | null = null;
  lastError = '';

  constructor(host: FollowerHost, opts: FollowerOptions) {
    this.host = host;
    this.opts = {
      waitMs: 1000,
      retryMs: 250,
      requestTimeoutMs: 5000,
      now: () => performance.now(),
      ...opts,
    };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.abort?.abort();
    await this.loop;
    this.loop = undefined;
    this.following = false;
  }

  /** Last seq the active was known to have (undefined: never followed an active). */
  get knownActiveSeq(): number | undefined {
    return this.activeLastSeq;
  }

  state(): ReplicationState {
    const now = this.opts.now();
    if (!this.following || !this.peerActive || now - this.lastOkAt > this.opts.waitMs + 3000)
      return 'disconnected';
    return this.lag().entries === 0 && !this.needSnapshot ? 'in-sync' : 'catching-up';
  }

  lag(): { entries: number; seconds: number } {
    if (this.activeLastSeq === undefined) return { entries: 0, seconds: 0 };
    const entries = Math.max(0, this.activeLastSeq - this.host.position().seq);
    const seconds =
      entries === 0 || !Number.isFinite(this.caughtUpAt) ? 0 : (this.opts.now() - this.caughtUpAt) / 1000;
    return { entries, seconds };
  }

  peerLastSeenSeconds(): number | null {
    return Number.isFinite(this.lastOkAt) ? (this.opts.now() - this.lastOkAt) / 1000 : null;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.running) {
      try {
        await this.step();
        failures = 0;
      } catch (err) {
        if (!this.running) break;
        failures += 1;
        const e = err as Error;
        const msg = e instanceof PeerError ? `${e.code}: ${e.message}` : e.message;
        if (msg !== this.lastError) this.host.log('warn', 'replication: peer request failed', { error: msg });
        this.lastError = msg;
        if (!(e instanceof PeerError && e.code === 'NOT_ACTIVE')) this.peerActive = false;
        const delay = Math.min(this.opts.retryMs * 2 ** Math.min(failures - 1, 3), 2000);
        await sleep(delay * (0.5 + Math.random() / 2));
      }
    }
  }

  private async get<T>(pathAndQuery: string, timeoutMs: number): Promise<T> {
    this.abort = new AbortController();
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(timeoutMs)]);
    const res = await fetch(`${this.opts.peerUrl}${pathAndQuery}`, {
      headers: { authorization: `Bearer ${this.opts.token()}` },
      signal,
    });
    const body = (await res.json()) as T & { code?: string; message?: string };
    if (!res.ok) throw new PeerError(res.status, body.code ?? 'UNKNOWN', body.message ?? String(res.status));
    return body;
  }

  private async step(): Promise<void> {
    this.following = true;
    if (this.needSnapshot) {
      let snap: SnapshotResponse;
      try {
        snap = await this.get<SnapshotResponse>('/v1/replication/snapshot', 30_000);
      } catch (err) {
        this.notActive(err);
        throw err;
      }
      this.host.sawPeer(snap);
      if (!this.running) return;
      this.host.applySnapshot(snap);
      this.needSnapshot = false;
      this.peerActive = true;
      this.lastOkAt = this.opts.now();
      this.activeLastSeq = snap.ledger.seq;
      this.caughtUpAt = this.opts.now();
      this.host.log('info', 'replication: loaded snapshot from the active', { seq: snap.ledger.seq });
      this.lastError = '';
      return;
    }
    const pos = this.host.position();
    const q =
      `/v1/replication/entries?after=${pos.seq}&afterEpoch=${pos.epoch}&wait=${this.opts.waitMs}` +
      `&member=${encodeURIComponent(this.host.memberName())}&epoch=${this.host.memberEpoch()}`;
    let res: EntriesResponse;
    try {
      res = await this.get<EntriesResponse>(q, this.opts.waitMs + this.opts.requestTimeoutMs);
    } catch (err) {
      if (err instanceof PeerError && err.code === 'SNAPSHOT_REQUIRED') {
        this.host.log('info', 'replication: the active asks for a resync from a snapshot', { seq: pos.seq });
        this.needSnapshot = true;
        return;
      }
      this.notActive(err);
      throw err;
    }
    const now = this.opts.now();
    this.lastOkAt = now;
    this.peerActive = true;
    this.lastError = '';
    this.skewSeconds = (res.wall - Date.now()) / 1000;
    this.host.sawPeer(res);
    if (!this.running) return;
    if (res.entries.length > 0) {
      try {
        this.host.applyEntries(res.entries);
      } catch (err) {
        this.host.log('warn', 'replication: cannot apply entries; resyncing from a snapshot', {
          error: (err as Error).message,
        });
        this.needSnapshot = true;
        return;
      }
    }
    this.activeLastSeq = res.lastSeq;
    if (this.host.position().seq >= res.lastSeq) this.caughtUpAt = now;
  }

  private notActive(err: unknown): void {
    if (err instanceof PeerError && err.code === 'NOT_ACTIVE') {
      // The peer is up but not active: nothing to follow (a later active with another
      // history answers SNAPSHOT_REQUIRED to our position).
      this.peerActive = false;
      this.lastOkAt = this.opts.now();
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
