// Replication between the two members. The standby PULLS from the active, over one persistent
// connection (the cheap path) or, with a peer that does not offer it, by long-polling:
//
//   GET /v1/replication/snapshot                       → the whole ledger at seq S
//   GET /v1/replication/stream?after=S&afterEpoch=E    (Upgrade: lsp-replication/1) → 101, then
//       active → standby: one JSON line per log entry after S, in order, plus a heartbeat line
//                         {"hb":1,role,epoch,lastSeq,wall,advertiseUrl} at once and every second;
//       standby → active: {"ack":S,"epoch":E} lines, after applying what it received (at least
//                         once per heartbeat).
//   GET /v1/replication/entries?after=S&afterEpoch=E   → entries S+1.. (long-poll up to `wait` ms)
//
// `after`/`afterEpoch` name the last entry the standby has applied; they are also its
// acknowledgement. The active answers SNAPSHOT_REQUIRED when it cannot prove the standby's
// log is a prefix of its own (entry S has another epoch: a fork left by an old active, or S
// is no longer in the in-memory window).
//
// Every entry is serialised once, when it is produced: the same JSON text goes to the journal,
// to the stream or the poll answer, and on the standby (as received) into its own journal.
//
// Synchronous mode: the active holds a client's answer until the standby has acknowledged the
// entry, while the standby is connected and in sync. If the ack does not come within
// `syncTimeoutMs`, the active goes on asynchronously (lag visible in status/metrics) until the
// standby has caught up again.
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import type { LedgerSnapshot, LogEntry } from './ledger.ts';
import type { ReplicationState } from './protocol.ts';

/** The protocol name in the Upgrade header of the replication stream. */
export const STREAM_PROTOCOL = 'lsp-replication/1';
export const STREAM_PATH = '/v1/replication/stream';

type Ringed = { seq: number; epoch: number; json: string; at: number };
type Poller = { after: number; respond: (entries: readonly string[]) => void; timer: NodeJS.Timeout };
type Waiter = { seq: number; resolve: () => void };

/** Where a stream's lines go (the upgraded socket, in http.ts). */
export type StreamSink = {
  /** false: the transport's buffer is full; call `drained()` on the handle when it is not */
  write(text: string): boolean;
  end(): void;
};
export type StreamHandle = {
  /** the standby has applied every entry up to `seq` */
  ack(seq: number): void;
  /** the sink can take more */
  drained(): void;
  /** the transport closed */
  close(): void;
};
type Stream = {
  sink: StreamSink;
  heartbeat: () => string;
  sent: number;
  paused: boolean;
  open: boolean;
  timer: NodeJS.Timeout;
};

export type SourceOptions = {
  mode: 'sync' | 'async';
  syncTimeoutMs: number;
  /** entries kept in memory for a standby to resume from (default 200 000) */
  windowSize?: number;
  /** max entries in one answer or stream write (default 10 000) */
  batchSize?: number;
  /** heartbeat period of a stream (default 1000 ms) */
  heartbeatMs?: number;
  now?: () => number;
};

/** The active member's side: the in-memory log window, streams, long-polls, acks, sync waiters. */
export class ReplicationSource {
  readonly mode: 'sync' | 'async';
  private readonly syncTimeoutMs: number;
  private readonly windowSize: number;
  private readonly batchSize: number;
  private readonly heartbeatMs: number;
  private readonly now: () => number;
  private ring: Ringed[] = [];
  private baseSeq = 0;
  private baseEpoch = 0;
  private pollers = new Set<Poller>();
  private streams = new Set<Stream>();
  private waiters: Waiter[] = [];
  private acked = 0;
  private lastPollAt = -Infinity;
  private syncHealthy = false;
  private known = false;
  private lastSyncTimeoutAt = -Infinity;
  private closed = false;

  constructor(opts: SourceOptions) {
    this.mode = opts.mode;
    this.syncTimeoutMs = opts.syncTimeoutMs;
    this.windowSize = opts.windowSize ?? 200_000;
    this.batchSize = opts.batchSize ?? 10_000;
    this.heartbeatMs = opts.heartbeatMs ?? 1000;
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
    return last ? last.seq : this.baseSeq;
  }

  /**
   * Record entries the active produced (in order) and wake streams and long-polls. `jsons` are
   * the entries' JSON texts when the caller has them already (serialised once).
   */
  push(entries: readonly LogEntry[], jsons?: readonly string[]): void {
    if (entries.length === 0) return;
    const at = this.now();
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i] as LogEntry;
      this.ring.push({ seq: entry.seq, epoch: entry.epoch, json: jsons?.[i] ?? JSON.stringify(entry), at });
    }
    if (this.ring.length > this.windowSize) {
      const drop = this.ring.length - Math.floor(this.windowSize / 2);
      const last = this.ring[drop - 1] as Ringed;
      this.baseSeq = last.seq;
      this.baseEpoch = last.epoch;
      this.ring = this.ring.slice(drop);
    }
    // Send once per turn of the event loop, so that the entries of all requests handled in
    // this turn travel to the standby in one write (stream) or one response (long-poll).
    if (!this.sendScheduled && (this.pollers.size > 0 || this.streams.size > 0)) {
      this.sendScheduled = true;
      setImmediate(this.sendAll);
    }
  }
  private sendScheduled = false;
  private readonly sendAll = (): void => {
    this.sendScheduled = false;
    const last = this.lastSeq;
    for (const s of this.streams) if (s.sent < last) this.pump(s);
    for (const p of [...this.pollers]) if (p.after < last) this.answer(p);
  };

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
   * otherwise calls `respond` (with the entries' JSON texts) now or when entries arrive /
   * `waitMs` passes.
   */
  poll(
    after: number,
    afterEpoch: number,
    waitMs: number,
    respond: (entries: readonly string[]) => void,
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
  cancel(respond: (entries: readonly string[]) => void): void {
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
    p.respond(this.ring.slice(from, from + this.batchSize).map((r) => r.json));
  }

  /**
   * A standby opens a stream after (seq, epoch): 'snapshot' when it must resync, otherwise the
   * handle through which the transport reports acks, drains and the end. `heartbeat` makes the
   * heartbeat line (without the newline). A new stream replaces the previous one (the standby
   * reconnected).
   */
  subscribe(
    after: number,
    afterEpoch: number,
    sink: StreamSink,
    heartbeat: () => string,
  ): 'snapshot' | StreamHandle {
    if (this.closed || !this.matches(after, afterEpoch)) {
      this.lastPollAt = this.now();
      this.known = true;
      return 'snapshot';
    }
    for (const old of [...this.streams]) this.endStream(old);
    const s: Stream = {
      sink,
      heartbeat,
      sent: after,
      paused: false,
      open: true,
      timer: setInterval(() => {
        if (!s.paused) s.paused = !s.sink.write(`${s.heartbeat()}\n`);
      }, this.heartbeatMs),
    };
    s.timer.unref();
    this.streams.add(s);
    this.ack(after);
    s.paused = !sink.write(`${heartbeat()}\n`);
    this.pump(s);
    return {
      ack: (seq) => {
        if (s.open && seq <= s.sent) this.ack(seq);
      },
      drained: () => {
        if (!s.open) return;
        s.paused = false;
        this.pump(s);
      },
      close: () => {
        if (!s.open) return;
        s.open = false;
        clearInterval(s.timer);
        this.streams.delete(s);
      },
    };
  }

  /** Write what the stream has not had yet, in batches, until the sink is full. */
  private pump(s: Stream): void {
    while (s.open && !s.paused && s.sent < this.lastSeq) {
      if (s.sent < this.baseSeq) {
        // The standby fell out of the window while its connection was full: it resyncs from a
        // snapshot when it reconnects.
        this.endStream(s);
        return;
      }
      const from = s.sent - this.baseSeq;
      const batch = this.ring.slice(from, from + this.batchSize);
      let text = '';
      for (const r of batch) text += `${r.json}\n`;
      s.sent = (batch[batch.length - 1] as Ringed).seq;
      s.paused = !s.sink.write(text);
    }
  }

  private endStream(s: Stream): void {
    if (!s.open) return;
    s.open = false;
    clearInterval(s.timer);
    this.streams.delete(s);
    s.sink.end();
  }

  private matches(after: number, afterEpoch: number): boolean {
    if (after === this.baseSeq) return afterEpoch === this.baseEpoch;
    if (after < this.baseSeq || after > this.lastSeq) return false;
    return this.ring[after - this.baseSeq - 1]?.epoch === afterEpoch;
  }

  private ack(seq: number): void {
    this.known = true;
    this.lastPollAt = this.now();
    this.acked = seq;
    if (seq >= this.lastSeq) this.syncHealthy = true;
    let n = 0;
    while (n < this.waiters.length && (this.waiters[n] as Waiter).seq <= seq) n += 1;
    if (n > 0) {
      const done = n === this.waiters.length ? this.waiters : this.waiters.slice(0, n);
      this.waiters = n === this.waiters.length ? [] : this.waiters.slice(n);
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

  /** Stop: answer every long-poll, end every stream, release every waiter (demotion, shutdown). */
  close(): void {
    this.closed = true;
    for (const p of [...this.pollers]) {
      clearTimeout(p.timer);
      this.pollers.delete(p);
      p.respond([]);
    }
    for (const s of [...this.streams]) this.endStream(s);
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

/** A heartbeat line of the replication stream. */
export type StreamHeartbeat = {
  hb: 1;
  role: 'active' | 'standby';
  epoch: number;
  lastSeq: number;
  wall: number;
  advertiseUrl: string | null;
};

/** What a follower needs from the member it belongs to. */
export type FollowerHost = {
  position(): { seq: number; epoch: number };
  memberName(): string;
  memberEpoch(): number;
  /** `jsons`: the entries' JSON texts as received, when the transport has them */
  applyEntries(entries: LogEntry[], jsons?: readonly string[]): void;
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
  /** Source address of the connections to the peer (the member's own address when it binds one). */
  localAddress?: string;
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
  private readonly opts: Required<Omit<FollowerOptions, 'token' | 'localAddress'>> & {
    token: () => string;
    localAddress?: string;
  };
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
  /** false once the peer answered that it has no replication stream (an older version) */
  private streamSupported = true;
  private cancelStream: (() => void) | undefined;
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
    this.cancelStream?.();
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
    const url = new URL(`${this.opts.peerUrl}${pathAndQuery}`);
    const request = url.protocol === 'https:' ? https.request : http.request;
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(url, {
        headers: { authorization: `Bearer ${this.opts.token()}` },
        signal,
        ...(this.opts.localAddress ? { localAddress: this.opts.localAddress } : {}),
      });
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    let body: T & { code?: string; message?: string };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new PeerError(status, 'BAD_RESPONSE', `peer answered ${status} with non-JSON`);
    }
    if (status < 200 || status >= 300)
      throw new PeerError(status, body.code ?? 'UNKNOWN', body.message ?? String(status));
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
    if (this.streamSupported) await this.streamStep();
    else await this.pollStep();
  }

  /** Follow the active over one persistent connection until it ends. */
  private async streamStep(): Promise<void> {
    const pos = this.host.position();
    const q =
      `${STREAM_PATH}?after=${pos.seq}&afterEpoch=${pos.epoch}` +
      `&member=${encodeURIComponent(this.host.memberName())}&epoch=${this.host.memberEpoch()}`;
    let conn: { socket: Socket; head: Buffer };
    try {
      conn = await this.connectStream(q);
    } catch (err) {
      if (err instanceof PeerError && err.code === 'SNAPSHOT_REQUIRED') {
        this.host.log('info', 'replication: the active asks for a resync from a snapshot', { seq: pos.seq });
        this.needSnapshot = true;
        return;
      }
      // an older peer (404) or a server that does not take the upgrade (426): long-poll instead
      if (err instanceof PeerError && (err.status === 404 || err.status === 426)) {
        this.host.log('info', 'replication: the peer offers no replication stream; long-polling instead', {
          status: err.status,
        });
        this.streamSupported = false;
        return;
      }
      this.notActive(err);
      throw err;
    }
    if (!this.running) {
      conn.socket.destroy();
      return;
    }
    await this.follow(conn.socket, conn.head);
  }

  /** Ask the peer to upgrade GET /v1/replication/stream; a refusal becomes a PeerError. */
  private connectStream(pathAndQuery: string): Promise<{ socket: Socket; head: Buffer }> {
    const url = new URL(`${this.opts.peerUrl}${pathAndQuery}`);
    const request = url.protocol === 'https:' ? https.request : http.request;
    return new Promise((resolve, reject) => {
      const req = request(url, {
        agent: false,
        ...(this.opts.localAddress ? { localAddress: this.opts.localAddress } : {}),
        headers: {
          authorization: `Bearer ${this.opts.token()}`,
          connection: 'Upgrade',
          upgrade: STREAM_PROTOCOL,
        },
      });
      const timer = setTimeout(
        () => req.destroy(new Error(`the peer did not answer within ${this.opts.requestTimeoutMs} ms`)),
        this.opts.requestTimeoutMs,
      );
      this.cancelStream = () => req.destroy(new Error('replication stopped'));
      req.on('upgrade', (_res, socket, head) => {
        clearTimeout(timer);
        resolve({ socket, head });
      });
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          clearTimeout(timer);
          const status = res.statusCode ?? 0;
          let body: { code?: string; message?: string };
          try {
            body = JSON.parse(text) as typeof body;
          } catch {
            body = { code: 'BAD_RESPONSE', message: `peer answered ${status} with non-JSON` };
          }
          reject(new PeerError(status, body.code ?? 'UNKNOWN', body.message ?? `peer answered ${status}`));
        });
        res.on('error', reject);
      });
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.end();
    });
  }

  /**
   * Read the stream: apply the entries of each chunk, then acknowledge the position (once per
   * chunk, so a burst of entries costs one ack). Resolves when the stream ends.
   */
  private follow(socket: Socket, head: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      const decoder = new StringDecoder('utf8');
      const silentMs = this.opts.waitMs + this.opts.requestTimeoutMs;
      let pending = '';
      let lastData = this.opts.now();
      let first = true;
      let received = 0;
      let failed: Error | undefined;
      socket.setNoDelay(true);
      const watchdog = setInterval(() => {
        if (this.opts.now() - lastData > silentMs)
          socket.destroy(new Error(`the replication stream was silent for ${silentMs} ms`));
      }, 1000);
      watchdog.unref();
      this.cancelStream = () => socket.destroy();
      const onData = (chunk: Buffer): void => {
        lastData = this.opts.now();
        received += chunk.length;
        pending += decoder.write(chunk);
        const nl = pending.lastIndexOf('\n');
        if (nl < 0) return;
        const text = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        try {
          this.received(text, first);
          first = false;
        } catch (err) {
          // entries that do not apply: resync from a snapshot at once; garbage: an error
          if (this.needSnapshot) socket.destroy();
          else socket.destroy(err as Error);
          return;
        }
        if (!this.running) return;
        const pos = this.host.position();
        socket.write(`{"ack":${pos.seq},"epoch":${this.host.memberEpoch()}}\n`);
      };
      socket.on('data', onData);
      socket.on('error', (err) => (failed = err));
      socket.on('close', () => {
        clearInterval(watchdog);
        this.cancelStream = undefined;
        if (!this.running) resolve();
        else if (failed) reject(failed);
        else if (received === 0) reject(new Error('the active closed the replication stream'));
        else resolve();
      });
      if (head.length > 0) onData(head);
    });
  }

  /** Lines of the stream: entries (applied in order) and heartbeats. */
  private received(text: string, first: boolean): void {
    const entries: LogEntry[] = [];
    const jsons: string[] = [];
    let hb: StreamHeartbeat | undefined;
    let start = 0;
    while (start < text.length) {
      let end = text.indexOf('\n', start);
      if (end < 0) end = text.length;
      if (end > start) {
        const line = text.slice(start, end);
        const o = JSON.parse(line) as LogEntry | StreamHeartbeat;
        if ('seq' in o) {
          entries.push(o);
          jsons.push(line);
        } else hb = o;
      }
      start = end + 1;
    }
    const now = this.opts.now();
    this.lastOkAt = now;
    this.peerActive = true;
    this.lastError = '';
    if (hb) {
      this.skewSeconds = (hb.wall - Date.now()) / 1000;
      this.host.sawPeer(hb);
      this.activeLastSeq = first ? hb.lastSeq : Math.max(this.activeLastSeq ?? 0, hb.lastSeq);
    }
    if (!this.running) return;
    const last = entries[entries.length - 1];
    if (last) {
      try {
        this.host.applyEntries(entries, jsons);
      } catch (err) {
        this.host.log('warn', 'replication: cannot apply entries; resyncing from a snapshot', {
          error: (err as Error).message,
        });
        this.needSnapshot = true;
        throw err;
      }
      this.activeLastSeq = Math.max(this.activeLastSeq ?? 0, last.seq);
    }
    if (this.host.position().seq >= (this.activeLastSeq ?? 0)) this.caughtUpAt = now;
  }

  /** Long-poll GET /v1/replication/entries (a peer without the stream). */
  private async pollStep(): Promise<void> {
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
