// The active member's side of replication as the member and the transports see it: the clock,
// the one timer, the end-of-turn send, the streams' sinks and the long-polls' answers, around
// the rules of replication-source-core.ts.
import type { LogEntry } from './ledger.ts';
import type { ReplicationState } from './protocol.ts';
import { SourceCore } from './replication-source-core.ts';
import type { SourceCoreOptions, SourceOutput } from './replication-source-core.ts';

/** Where a stream's lines go (the upgraded socket, in http-replication-stream.ts). */
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
type Respond = (entries: readonly string[], mark: number) => void;
type Subscriber = { sink: StreamSink; heartbeat: (mark: number) => string };

export type SourceOptions = SourceCoreOptions & {
  now?: () => number;
  /**
   * The standby acknowledged every entry up to `seq`, answering what this member sent at
   * `anchorAt` (undefined: the answer names nothing this member still knows).
   */
  onAck?: (seq: number, anchorAt: number | undefined) => void;
};

/** The active member's side: the in-memory log window, streams, long-polls and acks. */
export class ReplicationSource {
  private readonly core: SourceCore;
  private readonly now: () => number;
  private readonly onAck: ((seq: number, anchorAt: number | undefined) => void) | undefined;
  private readonly subscribers = new Map<number, Subscriber>();
  private readonly polls = new Map<number, Respond>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private driving = false;

  constructor(opts: SourceOptions) {
    this.core = new SourceCore(opts);
    this.onAck = opts.onAck;
    this.now = opts.now ?? (() => performance.now());
  }

  get mode(): 'sync' | 'async' {
    return this.core.mode;
  }

  /** Start the window after the given (seq, epoch), e.g. after loading a snapshot. */
  reset(seq: number, epoch: number): void {
    this.core.reset(seq, epoch);
  }

  get lastSeq(): number {
    return this.core.lastSeq;
  }

  /**
   * Record entries the active produced (in order) and wake streams and long-polls. `jsons` are
   * the entries' JSON texts when the caller has them already (serialised once).
   */
  push(entries: readonly LogEntry[], jsons?: readonly string[]): void {
    this.core.append(this.now(), entries, jsons);
    this.drive();
  }

  /** A change could not be acknowledged in time (serving.ts): the standby is behind. */
  behind(): void {
    this.core.behind(this.now());
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
    respond: Respond,
    mark?: number,
  ): 'snapshot' | 'ok' {
    const id = this.core.poll(this.now(), after, afterEpoch, waitMs, mark);
    if (id === 'snapshot') return 'snapshot';
    this.polls.set(id, respond);
    this.drive();
    return 'ok';
  }

  /** The standby's connection went away before its poll was answered. */
  cancel(respond: Respond): void {
    for (const [id, r] of [...this.polls])
      if (r === respond) {
        this.polls.delete(id);
        this.core.cancel(id);
      }
    this.drive();
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
    const id = this.core.subscribe(this.now(), after, afterEpoch);
    if (id === 'snapshot') return 'snapshot';
    this.subscribers.set(id, { sink, heartbeat });
    this.drive();
    return {
      ack: (seq, hb) => {
        this.core.streamAck(this.now(), id, seq, hb);
        this.drive();
      },
      drained: () => {
        this.core.drained(id);
        this.drive();
      },
      close: () => {
        this.subscribers.delete(id);
        this.core.streamClosed(id);
        this.drive();
      },
    };
  }

  /** Carry out what the core asks for, until it asks for nothing more, and arm its next deadline. */
  private drive(): void {
    // A sink or an answer that calls back into the source adds to what the loop below takes next.
    if (this.driving) return;
    this.driving = true;
    try {
      for (;;) {
        const r = this.core.ready();
        // Once per turn of the event loop: the entries of all requests handled in this turn
        // travel to the standby in one write (stream) or one response (long-poll).
        if (r.flush) setImmediate(this.flush);
        if (r.out.length === 0) {
          this.arm(r.wakeAt);
          return;
        }
        for (const o of r.out) this.perform(o);
      }
    } finally {
      this.driving = false;
    }
  }

  private perform(o: SourceOutput): void {
    switch (o.kind) {
      case 'heartbeat':
      case 'entries': {
        const s = this.subscribers.get(o.stream);
        if (!s) return;
        const text = o.kind === 'heartbeat' ? `${s.heartbeat(o.mark)}\n` : o.text;
        this.core.written(o.stream, s.sink.write(text));
        return;
      }
      case 'end': {
        const s = this.subscribers.get(o.stream);
        this.subscribers.delete(o.stream);
        s?.sink.end();
        return;
      }
      case 'answer': {
        const respond = this.polls.get(o.poll);
        this.polls.delete(o.poll);
        respond?.(o.entries, o.mark);
        return;
      }
      case 'acked':
        this.onAck?.(o.seq, o.anchorAt);
        return;
    }
  }

  private readonly flush = (): void => {
    this.core.flush(this.now());
    this.drive();
  };

  private readonly tick = (): void => {
    this.timer = undefined;
    this.timerAt = Infinity;
    this.core.tick(this.now());
    this.drive();
  };

  private arm(at: number): void {
    if (at === this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = at;
    if (at === Infinity) return;
    this.timer = setTimeout(this.tick, Math.max(0, Math.ceil(at - this.now())));
    // The standby's connections keep the process alive, not the deadlines that serve them.
    this.timer.unref();
  }

  connected(): boolean {
    return this.core.connected(this.now());
  }

  state(): ReplicationState {
    return this.core.state(this.now());
  }

  effectiveMode(): 'sync' | 'async' {
    return this.core.effectiveMode(this.now());
  }

  lag(): { entries: number; seconds: number } {
    return this.core.lag(this.now());
  }

  peerLastSeenSeconds(): number | null {
    return this.core.peerLastSeenSeconds(this.now());
  }

  sinceSyncTimeoutSeconds(): number | null {
    return this.core.sinceSyncTimeoutSeconds(this.now());
  }

  /** Stop: answer every long-poll, end every stream, release every waiter (demotion, shutdown). */
  close(): void {
    this.core.close();
    this.drive();
  }
}
