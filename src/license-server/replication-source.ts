// The active member's side of replication (the protocol is described in replication.ts).
import type { LogEntry } from './ledger.ts';
import type { ReplicationState } from './protocol.ts';
import { AnchorBook } from './serving-rights.ts';

type Ringed = { seq: number; epoch: number; json: string; at: number };
type Poller = {
  after: number;
  respond: (entries: readonly string[], mark: number) => void;
  timer: NodeJS.Timeout;
};

/** Where a stream's lines go (the upgraded socket, in http.ts). */
export type StreamSink = {
  /** false: the transport's buffer is full; call `drained()` on the handle when it is not */
  write(text: string): boolean;
  end(): void;
};
export type StreamHandle = {
  /** the standby has applied every entry up to `seq`, and had heartbeat `hb` */
  ack(seq: number, hb?: number): void;
  /** the sink can take more */
  drained(): void;
  /** the transport closed */
  close(): void;
};
type Stream = {
  sink: StreamSink;
  /** the heartbeat line, numbered `mark` */
  heartbeat: (mark: number) => string;
  sent: number;
  paused: boolean;
  open: boolean;
  timer: NodeJS.Timeout;
};

export type SourceOptions = {
  mode: 'sync' | 'async';
  /** entries kept in memory for a standby to resume from (default 200 000) */
  windowSize?: number;
  /** max entries in one answer or stream write (default 10 000) */
  batchSize?: number;
  /** heartbeat period of a stream (default 1000 ms) */
  heartbeatMs?: number;
  now?: () => number;
  /**
   * The standby acknowledged every entry up to `seq`, answering what this member sent at
   * `anchorAt` (undefined: the answer names nothing this member still knows).
   */
  onAck?: (seq: number, anchorAt: number | undefined) => void;
};

/** The active member's side: the in-memory log window, streams, long-polls and acks. */
export class ReplicationSource {
  readonly mode: 'sync' | 'async';
  private readonly windowSize: number;
  private readonly batchSize: number;
  private readonly heartbeatMs: number;
  private readonly now: () => number;
  private readonly onAck: ((seq: number, anchorAt: number | undefined) => void) | undefined;
  /** send times of heartbeats and long-poll answers, which acknowledgements name */
  private readonly marks = new AnchorBook(256);
  private ring: Ringed[] = [];
  private baseSeq = 0;
  private baseEpoch = 0;
  private pollers = new Set<Poller>();
  private streams = new Set<Stream>();
  private acked = 0;
  private lastPollAt = -Infinity;
  private syncHealthy = false;
  private known = false;
  private lastSyncTimeoutAt = -Infinity;
  private closed = false;

  constructor(opts: SourceOptions) {
    this.mode = opts.mode;
    this.onAck = opts.onAck;
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

  /**
   * A change ending at `seq` could not be acknowledged in time (serving.ts): the standby is
   * behind; it counts as catching up until it has acknowledged everything again.
   */
  behind(): void {
    this.syncHealthy = false;
    this.lastSyncTimeoutAt = this.now();
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
    respond: (entries: readonly string[], mark: number) => void,
    mark?: number,
  ): 'snapshot' | 'ok' {
    if (!this.matches(after, afterEpoch)) {
      this.lastPollAt = this.now();
      this.known = true;
      return 'snapshot';
    }
    this.ack(after, mark);
    const p: Poller = {
      after,
      respond,
      timer: setTimeout(() => {
        this.pollers.delete(p);
        respond([], this.marks.issue(this.now()));
      }, waitMs),
    };
    if (after < this.lastSeq || waitMs === 0) this.answer(p);
    else this.pollers.add(p);
    return 'ok';
  }

  /** The standby's connection went away before its poll was answered. */
  cancel(respond: (entries: readonly string[], mark: number) => void): void {
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
    p.respond(
      this.ring.slice(from, from + this.batchSize).map((r) => r.json),
      this.marks.issue(this.now()),
    );
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
    heartbeat: (mark: number) => string,
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
        if (!s.paused) s.paused = !s.sink.write(`${s.heartbeat(this.marks.issue(this.now()))}\n`);
      }, this.heartbeatMs),
    };
    s.timer.unref();
    this.streams.add(s);
    this.ack(after, undefined);
    s.paused = !sink.write(`${heartbeat(this.marks.issue(this.now()))}\n`);
    this.pump(s);
    return {
      ack: (seq, hb) => {
        if (s.open && seq <= s.sent) this.ack(seq, hb);
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

  /**
   * `seq` acknowledged; `mark`: the heartbeat or answer the standby had last. The anchor is the
   * latest send time the acknowledgement certainly follows: that mark, or the entry `seq` itself
   * (recorded when pushed, before it was written to the standby).
   */
  private ack(seq: number, mark: number | undefined): void {
    const now = this.now();
    this.known = true;
    this.lastPollAt = now;
    this.acked = seq;
    if (seq >= this.lastSeq) this.syncHealthy = true;
    if (!this.onAck) return;
    const byMark = mark === undefined ? undefined : this.marks.sentAt(mark);
    const entry = seq > this.baseSeq ? this.ring[seq - this.baseSeq - 1] : undefined;
    const byEntry = entry?.seq === seq ? entry.at : undefined;
    const anchorAt =
      byMark === undefined ? byEntry : byEntry === undefined ? byMark : Math.max(byMark, byEntry);
    this.onAck(seq, anchorAt);
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
      p.respond([], 0);
    }
    for (const s of [...this.streams]) this.endStream(s);
    this.syncHealthy = false;
    this.known = false;
  }
}
