// The active member's side of replication (the protocol is described in protocol.ts) as a state
// machine without I/O or a clock of its own, so that every rule of the window, the streams, the
// long-polls and the acknowledgements can be tested with explicit times. Each event takes `now`
// and only records what follows from it; `ready()` hands over what to write, answer and report
// and when to be woken, and the shell (replication-source.ts) carries it out and reports what
// each write did (`written`), as a transport's backpressure decides whether the next batch goes.
import type { LogEntry } from './ledger.ts';
import type { ReplicationState } from './protocol.ts';
import { AnchorBook } from './serving-rights.ts';

/** Something the shell must do, in the order given. */
export type SourceOutput =
  /** write the heartbeat line numbered `mark` to the stream, then report `written` */
  | { kind: 'heartbeat'; stream: number; mark: number }
  /** write these entry lines to the stream, then report `written` */
  | { kind: 'entries'; stream: number; text: string }
  /** end the stream's connection (the source will not write to it again) */
  | { kind: 'end'; stream: number }
  /** answer the long-poll with the entries' JSON texts, the answer numbered `mark` */
  | { kind: 'answer'; poll: number; entries: readonly string[]; mark: number }
  /**
   * The standby acknowledged every entry up to `seq`, answering what this member sent at
   * `anchorAt` (undefined: the acknowledgement names nothing this member still knows).
   */
  | { kind: 'acked'; seq: number; anchorAt: number | undefined };

export type SourceReady = {
  out: SourceOutput[];
  /**
   * Call `flush` once the rest of this turn's appends are in: the entries of all requests of one
   * turn of the event loop then travel to the standby in one write or one answer.
   */
  flush: boolean;
  /** call `tick` at this time (Infinity: no deadline) */
  wakeAt: number;
};

export type SourceCoreOptions = {
  mode: 'sync' | 'async';
  /** entries kept in memory for a standby to resume from (default 200 000) */
  windowSize?: number;
  /** max entries in one answer or stream write (default 10 000) */
  batchSize?: number;
  /** heartbeat period of a stream (default 1000 ms) */
  heartbeatMs?: number;
};

type Ringed = { seq: number; epoch: number; json: string; at: number };
type Poll = { after: number; deadline: number };
type Stream = {
  sent: number;
  /** the transport's buffer is full: nothing more until it drains */
  paused: boolean;
  /** a write is out whose result the shell has not reported yet */
  writing: boolean;
  nextHeartbeatAt: number;
};

/** A standby that has not been heard from for this long is disconnected. */
const CONNECTED_MS = 3000;

export class SourceCore {
  readonly mode: 'sync' | 'async';
  private readonly windowSize: number;
  private readonly batchSize: number;
  private readonly heartbeatMs: number;
  /** send times of heartbeats and long-poll answers, which acknowledgements name */
  private readonly marks = new AnchorBook(256);
  private ring: Ringed[] = [];
  private baseSeq = 0;
  private baseEpoch = 0;
  private readonly polls = new Map<number, Poll>();
  private readonly streams = new Map<number, Stream>();
  private nextId = 1;
  private out: SourceOutput[] = [];
  private flushWanted = false;
  private flushScheduled = false;
  private acked = 0;
  private lastPollAt = -Infinity;
  private syncHealthy = false;
  private known = false;
  private lastSyncTimeoutAt = -Infinity;
  private closed = false;

  constructor(opts: SourceCoreOptions) {
    this.mode = opts.mode;
    this.windowSize = opts.windowSize ?? 200_000;
    this.batchSize = opts.batchSize ?? 10_000;
    this.heartbeatMs = opts.heartbeatMs ?? 1000;
  }

  /** What to do since the last call, and when to call `tick`. */
  ready(): SourceReady {
    const out = this.out;
    this.out = [];
    const flush = this.flushWanted;
    this.flushWanted = false;
    let wakeAt = Infinity;
    for (const p of this.polls.values()) wakeAt = Math.min(wakeAt, p.deadline);
    for (const s of this.streams.values()) wakeAt = Math.min(wakeAt, s.nextHeartbeatAt);
    return { out, flush, wakeAt };
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
   * Entries the active produced (in order). `jsons` are their JSON texts when the caller has
   * them already (serialised once).
   */
  append(now: number, entries: readonly LogEntry[], jsons?: readonly string[]): void {
    if (entries.length === 0) return;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i] as LogEntry;
      this.ring.push({
        seq: entry.seq,
        epoch: entry.epoch,
        json: jsons?.[i] ?? JSON.stringify(entry),
        at: now,
      });
    }
    if (this.ring.length > this.windowSize) {
      const drop = this.ring.length - Math.floor(this.windowSize / 2);
      const last = this.ring[drop - 1] as Ringed;
      this.baseSeq = last.seq;
      this.baseEpoch = last.epoch;
      this.ring = this.ring.slice(drop);
    }
    if (!this.flushScheduled && (this.polls.size > 0 || this.streams.size > 0)) {
      this.flushScheduled = true;
      this.flushWanted = true;
    }
  }

  /** The end of the turn asked for by `ready().flush`: send what was appended. */
  flush(now: number): void {
    this.flushScheduled = false;
    const last = this.lastSeq;
    for (const [id, s] of this.streams) if (s.sent < last) this.pump(id, s);
    for (const [id, p] of [...this.polls]) if (p.after < last) this.answer(id, p, now);
  }

  /**
   * A change could not be acknowledged in time (serving.ts): the standby is behind; it counts as
   * catching up until it has acknowledged everything again.
   */
  behind(now: number): void {
    this.syncHealthy = false;
    this.lastSyncTimeoutAt = now;
  }

  /**
   * A standby asks for entries after (seq, epoch), having had the answer numbered `mark`.
   * 'snapshot' when it must resync; otherwise the poll's number, answered now or when entries
   * arrive or `waitMs` has passed.
   */
  poll(now: number, after: number, afterEpoch: number, waitMs: number, mark?: number): 'snapshot' | number {
    if (!this.matches(after, afterEpoch)) {
      this.lastPollAt = now;
      this.known = true;
      return 'snapshot';
    }
    this.ack(now, after, mark);
    const id = this.nextId++;
    const p: Poll = { after, deadline: now + waitMs };
    if (after < this.lastSeq || waitMs === 0) this.answer(id, p, now);
    else this.polls.set(id, p);
    return id;
  }

  /** The standby's connection went away before its poll was answered. */
  cancel(poll: number): void {
    this.polls.delete(poll);
  }

  private answer(id: number, p: Poll, now: number): void {
    this.polls.delete(id);
    const from = p.after - this.baseSeq; // index of entry after+1
    this.out.push({
      kind: 'answer',
      poll: id,
      entries: this.ring.slice(from, from + this.batchSize).map((r) => r.json),
      mark: this.marks.issue(now),
    });
  }

  /**
   * A standby opens a stream after (seq, epoch): 'snapshot' when it must resync, otherwise the
   * stream's number. A new stream replaces the previous one (the standby reconnected).
   */
  subscribe(now: number, after: number, afterEpoch: number): 'snapshot' | number {
    if (this.closed || !this.matches(after, afterEpoch)) {
      this.lastPollAt = now;
      this.known = true;
      return 'snapshot';
    }
    for (const old of [...this.streams.keys()]) this.endStream(old);
    const id = this.nextId++;
    const s: Stream = { sent: after, paused: false, writing: false, nextHeartbeatAt: now + this.heartbeatMs };
    this.streams.set(id, s);
    this.ack(now, after, undefined);
    this.heartbeat(id, s, now);
    return id;
  }

  /** The standby has applied every entry up to `seq`, and had heartbeat `hb`. */
  streamAck(now: number, stream: number, seq: number, hb?: number): void {
    const s = this.streams.get(stream);
    // An ack of more than was sent is not the standby's (it cannot have applied it).
    if (s && seq <= s.sent) this.ack(now, seq, hb);
  }

  /** The write of a `heartbeat` or `entries` output was made; false: the transport is full. */
  written(stream: number, accepted: boolean): void {
    const s = this.streams.get(stream);
    if (!s) return;
    s.writing = false;
    s.paused = !accepted;
    this.pump(stream, s);
  }

  /** The stream's transport can take more. */
  drained(stream: number): void {
    const s = this.streams.get(stream);
    if (!s) return;
    s.paused = false;
    this.pump(stream, s);
  }

  /** The stream's transport closed. */
  streamClosed(stream: number): void {
    this.streams.delete(stream);
  }

  /** Deadlines: long-polls that waited long enough are answered, streams get their heartbeat. */
  tick(now: number): void {
    for (const [id, p] of [...this.polls])
      if (p.deadline <= now) {
        this.polls.delete(id);
        this.out.push({ kind: 'answer', poll: id, entries: [], mark: this.marks.issue(now) });
      }
    for (const [id, s] of this.streams)
      if (s.nextHeartbeatAt <= now) {
        s.nextHeartbeatAt = now + this.heartbeatMs;
        // A full transport gets no heartbeat: the standby hears again once it drains.
        if (!s.paused && !s.writing) this.heartbeat(id, s, now);
      }
  }

  private heartbeat(id: number, s: Stream, now: number): void {
    s.writing = true;
    this.out.push({ kind: 'heartbeat', stream: id, mark: this.marks.issue(now) });
  }

  /** The next batch the stream has not had yet, unless a write is out or the transport is full. */
  private pump(id: number, s: Stream): void {
    if (s.paused || s.writing || s.sent >= this.lastSeq) return;
    if (s.sent < this.baseSeq) {
      // The standby fell out of the window while its connection was full: it resyncs from a
      // snapshot when it reconnects.
      this.endStream(id);
      return;
    }
    const from = s.sent - this.baseSeq;
    const batch = this.ring.slice(from, from + this.batchSize);
    let text = '';
    for (const r of batch) text += `${r.json}\n`;
    s.sent = (batch[batch.length - 1] as Ringed).seq;
    s.writing = true;
    this.out.push({ kind: 'entries', stream: id, text });
  }

  private endStream(id: number): void {
    if (!this.streams.delete(id)) return;
    this.out.push({ kind: 'end', stream: id });
  }

  private matches(after: number, afterEpoch: number): boolean {
    if (after === this.baseSeq) return afterEpoch === this.baseEpoch;
    if (after < this.baseSeq || after > this.lastSeq) return false;
    return this.ring[after - this.baseSeq - 1]?.epoch === afterEpoch;
  }

  /**
   * `seq` acknowledged; `mark`: the heartbeat or answer the standby had last. The anchor is the
   * latest send time the acknowledgement certainly follows: that mark, or the entry `seq` itself
   * (recorded when appended, before it was written to the standby).
   */
  private ack(now: number, seq: number, mark: number | undefined): void {
    this.known = true;
    this.lastPollAt = now;
    this.acked = seq;
    if (seq >= this.lastSeq) this.syncHealthy = true;
    const byMark = mark === undefined ? undefined : this.marks.sentAt(mark);
    const entry = seq > this.baseSeq ? this.ring[seq - this.baseSeq - 1] : undefined;
    const byEntry = entry?.seq === seq ? entry.at : undefined;
    const anchorAt =
      byMark === undefined ? byEntry : byEntry === undefined ? byMark : Math.max(byMark, byEntry);
    this.out.push({ kind: 'acked', seq, anchorAt });
  }

  connected(now: number): boolean {
    return this.polls.size > 0 || now - this.lastPollAt < CONNECTED_MS;
  }

  state(now: number): ReplicationState {
    if (!this.known || !this.connected(now)) return 'disconnected';
    return this.syncHealthy && this.acked >= this.lastSeq - this.batchSize ? 'in-sync' : 'catching-up';
  }

  effectiveMode(now: number): 'sync' | 'async' {
    return this.mode === 'sync' && this.syncHealthy && this.connected(now) ? 'sync' : 'async';
  }

  lag(now: number): { entries: number; seconds: number } {
    if (!this.known) return { entries: 0, seconds: 0 };
    const entries = Math.max(0, this.lastSeq - this.acked);
    if (entries === 0) return { entries, seconds: 0 };
    const firstUnacked = this.ring[this.acked - this.baseSeq];
    const seconds = firstUnacked ? (now - firstUnacked.at) / 1000 : 0;
    return { entries, seconds };
  }

  peerLastSeenSeconds(now: number): number | null {
    if (this.polls.size > 0) return 0;
    return Number.isFinite(this.lastPollAt) ? (now - this.lastPollAt) / 1000 : null;
  }

  sinceSyncTimeoutSeconds(now: number): number | null {
    return Number.isFinite(this.lastSyncTimeoutAt) ? (now - this.lastSyncTimeoutAt) / 1000 : null;
  }

  /** Stop: answer every long-poll, end every stream (demotion, shutdown). */
  close(): void {
    this.closed = true;
    for (const id of [...this.polls.keys()]) {
      this.polls.delete(id);
      this.out.push({ kind: 'answer', poll: id, entries: [], mark: 0 });
    }
    for (const id of [...this.streams.keys()]) this.endStream(id);
    this.syncHealthy = false;
    this.known = false;
  }
}
