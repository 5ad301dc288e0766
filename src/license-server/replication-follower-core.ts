// The standby's side of replication (the protocol is described in protocol.ts) as state without
// I/O or a clock of its own: which request comes next, what an answer, a refusal or a stream's
// text means for it, the acknowledgement to send, when a stream counts as dead and how long to
// back off. Every time is an argument; the shell (replication-follower.ts) makes the requests,
// reads the socket, applies the entries and sleeps.
import type { LogEntry } from './ledger.ts';
import { PeerError } from './peer-client.ts';
import { STREAM_PATH } from './protocol.ts';
import type { EntriesResponse, ReplicationState, StreamHeartbeat } from './protocol.ts';

export type FollowerCoreOptions = {
  /** how long the active may hold a long-poll */
  waitMs: number;
  /** the first pause after a failed request */
  retryMs: number;
  requestTimeoutMs: number;
};

/** The next request: a snapshot to resync from, the stream, or a long-poll (a peer without it). */
export type FollowerStep = 'snapshot' | 'stream' | 'poll';

/**
 * What a refusal of a request means: resync from a snapshot, long-poll from now on (the peer
 * offers no stream), or a failure to back off from.
 */
export type RefusalVerdict = 'resync' | 'long-poll' | 'fail';

/** The lines of one chunk of the stream, in order. */
export type StreamLines = { entries: LogEntry[]; jsons: string[]; heartbeat: StreamHeartbeat | undefined };

type Position = { seq: number; epoch: number };

/** The longest pause between failed requests. */
const MAX_BACKOFF_MS = 2000;
/** A peer heard from longer ago than the long-poll wait and this is disconnected. */
const DISCONNECTED_AFTER_MS = 3000;

export class FollowerCore {
  private readonly opts: FollowerCoreOptions;
  private needSnapshot = false;
  private lastOkAt = -Infinity;
  private activeLastSeq: number | undefined;
  private caughtUpAt = -Infinity;
  private following = false;
  private peerActive = false;
  /** false once the peer answered that it has no replication stream (an older version) */
  private streamSupported = true;
  /** the number of the last heartbeat or answer received from the active */
  private lastMark = 0;
  private failures = 0;
  /** text of the stream after its last complete line */
  private pending = '';
  private lastDataAt = -Infinity;
  /** no line of the current stream has been read yet: its heartbeat sets the active's position */
  private firstLines = true;
  /** the last failure logged, so that a failure repeated is logged once */
  private lastError = '';
  /** the active's wall clock less this member's, at its last heartbeat or answer */
  skewSeconds: number | null = null;

  constructor(opts: FollowerCoreOptions) {
    this.opts = opts;
  }

  /** Last seq the active was known to have (undefined: never followed an active). */
  get knownActiveSeq(): number | undefined {
    return this.activeLastSeq;
  }

  /** `seq`: the member's own position. */
  state(now: number, seq: number): ReplicationState {
    if (!this.following || !this.peerActive || now - this.lastOkAt > this.opts.waitMs + DISCONNECTED_AFTER_MS)
      return 'disconnected';
    return this.lag(now, seq).entries === 0 && !this.needSnapshot ? 'in-sync' : 'catching-up';
  }

  lag(now: number, seq: number): { entries: number; seconds: number } {
    if (this.activeLastSeq === undefined) return { entries: 0, seconds: 0 };
    const entries = Math.max(0, this.activeLastSeq - seq);
    const seconds = entries === 0 || !Number.isFinite(this.caughtUpAt) ? 0 : (now - this.caughtUpAt) / 1000;
    return { entries, seconds };
  }

  peerLastSeenSeconds(now: number): number | null {
    return Number.isFinite(this.lastOkAt) ? (now - this.lastOkAt) / 1000 : null;
  }

  next(): FollowerStep {
    this.following = true;
    if (this.needSnapshot) return 'snapshot';
    return this.streamSupported ? 'stream' : 'poll';
  }

  /** The follower stopped. */
  stopped(): void {
    this.following = false;
  }

  /** The stream request from `pos`; heartbeats are numbered afresh on every stream. */
  streamPath(pos: Position, member: string, epoch: number): string {
    this.lastMark = 0;
    return (
      `${STREAM_PATH}?after=${pos.seq}&afterEpoch=${pos.epoch}` +
      `&member=${encodeURIComponent(member)}&epoch=${epoch}`
    );
  }

  /** The long-poll from `pos`, which names the last answer had (its acknowledgement). */
  pollPath(pos: Position, member: string, epoch: number): string {
    return (
      `/v1/replication/entries?after=${pos.seq}&afterEpoch=${pos.epoch}&wait=${this.opts.waitMs}` +
      `&member=${encodeURIComponent(member)}&epoch=${epoch}` +
      (this.lastMark > 0 ? `&hb=${this.lastMark}` : '')
    );
  }

  /** How long the long-poll request may take. */
  get pollTimeoutMs(): number {
    return this.opts.waitMs + this.opts.requestTimeoutMs;
  }

  /** The request of `step` was refused or failed with `err`. */
  refused(now: number, step: FollowerStep, err: unknown): RefusalVerdict {
    if (step !== 'snapshot' && err instanceof PeerError && err.code === 'SNAPSHOT_REQUIRED') {
      this.needSnapshot = true;
      return 'resync';
    }
    // an older peer (404) or a server that does not take the upgrade (426)
    if (step === 'stream' && err instanceof PeerError && (err.status === 404 || err.status === 426)) {
      this.streamSupported = false;
      return 'long-poll';
    }
    if (err instanceof PeerError && err.code === 'NOT_ACTIVE') {
      // The peer is up but not active: nothing to follow (a later active with another
      // history answers SNAPSHOT_REQUIRED to our position).
      this.peerActive = false;
      this.lastOkAt = now;
    }
    return 'fail';
  }

  /** The active's snapshot at `seq` was loaded. */
  snapshotLoaded(now: number, seq: number): void {
    this.needSnapshot = false;
    this.peerActive = true;
    this.lastOkAt = now;
    this.activeLastSeq = seq;
    this.caughtUpAt = now;
    this.lastError = '';
  }

  /** The stream was opened. */
  streamOpened(now: number): void {
    this.pending = '';
    this.lastDataAt = now;
    this.firstLines = true;
  }

  /** Nothing came, not even a heartbeat, for longer than a heartbeat may take. */
  streamSilent(now: number): boolean {
    return now - this.lastDataAt > this.streamSilentMs;
  }

  get streamSilentMs(): number {
    return this.opts.waitMs + this.opts.requestTimeoutMs;
  }

  /** Text read from the stream: the complete lines it ends, if any (to give to `streamLines`). */
  streamText(now: number, text: string): string | undefined {
    this.lastDataAt = now;
    this.pending += text;
    const nl = this.pending.lastIndexOf('\n');
    if (nl < 0) return undefined;
    const lines = this.pending.slice(0, nl);
    this.pending = this.pending.slice(nl + 1);
    return lines;
  }

  /**
   * Lines of the stream: entries (to apply in order, then report with `applied`) and the last
   * heartbeat. Throws on a line that is not JSON. `wallNow`: this member's wall clock.
   */
  streamLines(now: number, wallNow: number, text: string): StreamLines {
    const entries: LogEntry[] = [];
    const jsons: string[] = [];
    let heartbeat: StreamHeartbeat | undefined;
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
        } else heartbeat = o;
      }
      start = end + 1;
    }
    this.heard(now);
    if (heartbeat) {
      if (heartbeat.n !== undefined) this.lastMark = heartbeat.n;
      this.skewSeconds = (heartbeat.wall - wallNow) / 1000;
      this.activeLastSeq = this.firstLines
        ? heartbeat.lastSeq
        : Math.max(this.activeLastSeq ?? 0, heartbeat.lastSeq);
    }
    this.firstLines = false;
    return { entries, jsons, heartbeat };
  }

  /**
   * The entries of the stream up to `lastSeq` (undefined: there were none) are applied; the
   * member is at `seq`.
   */
  applied(now: number, lastSeq: number | undefined, seq: number): void {
    if (lastSeq !== undefined) this.activeLastSeq = Math.max(this.activeLastSeq ?? 0, lastSeq);
    if (seq >= (this.activeLastSeq ?? 0)) this.caughtUpAt = now;
  }

  /** Entries did not apply: resync from a snapshot. */
  applyFailed(): void {
    this.needSnapshot = true;
  }

  /** The acknowledgement of position `seq`, with the member's epoch and the last heartbeat had. */
  ackLine(seq: number, epoch: number): string {
    return `{"ack":${seq},"epoch":${epoch},"hb":${this.lastMark}}\n`;
  }

  /** A long-poll's answer, before its entries are applied (then `pollApplied`). */
  polled(now: number, wallNow: number, res: EntriesResponse): void {
    this.heard(now);
    this.skewSeconds = (res.wall - wallNow) / 1000;
    this.lastMark = res.n ?? 0;
  }

  /** The long-poll's entries are applied; the active was at `lastSeq`, the member is at `seq`. */
  pollApplied(now: number, lastSeq: number, seq: number): void {
    this.activeLastSeq = lastSeq;
    if (seq >= lastSeq) this.caughtUpAt = now;
  }

  private heard(now: number): void {
    this.lastOkAt = now;
    this.peerActive = true;
    this.lastError = '';
  }

  /** A step went through: the next failure backs off from the start. */
  succeeded(): void {
    this.failures = 0;
  }

  /**
   * A step failed with `err`: how long to wait before the next (`jitter` in [0, 1) spreads it),
   * and the message to log when it is not the one logged last.
   */
  failed(err: unknown, jitter: number): { delayMs: number; warn: string | undefined } {
    this.failures += 1;
    const e = err as Error;
    const msg = e instanceof PeerError ? `${e.code}: ${e.message}` : e.message;
    const warn = msg !== this.lastError ? msg : undefined;
    this.lastError = msg;
    const notActive = e instanceof PeerError && e.code === 'NOT_ACTIVE';
    if (!notActive) this.peerActive = false;
    // A peer that answers "not active" is up and about to be promoted, and once it is it
    // cannot grant until this standby acknowledges: ask again soon rather than backing off.
    const delay = notActive
      ? this.opts.retryMs
      : Math.min(this.opts.retryMs * 2 ** Math.min(this.failures - 1, 3), MAX_BACKOFF_MS);
    return { delayMs: delay * (0.5 + jitter / 2), warn };
  }
}
