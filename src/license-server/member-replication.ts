// A member's replication in either role: the source its standby pulls from while it is active
// (and the answers to the standby's snapshot, long-poll and stream requests), the follower that
// pulls from the peer while it is standby, and what both sides know of the peer (lag, state,
// last seen, clock skew). Roles and epochs are decided in member-roles.ts; this only reads them.
import type { Logger } from 'pino';
import { refuse } from './admin-answers.ts';
import type { AdminRefusal, Role } from './admin-answers.ts';
import type { ServerConfig } from './config.ts';
import type { Ledger, LogEntry } from './ledger.ts';
import type { EntriesResponse, ReplicationState, SnapshotResponse, StreamHeartbeat } from './protocol.ts';
import { Follower } from './replication-follower.ts';
import { ReplicationSource } from './replication-source.ts';
import type { StreamHandle, StreamSink } from './replication-source.ts';
import type { ServingGuard } from './serving.ts';

export type MemberReplicationOptions = {
  config: Pick<
    ServerConfig,
    'member' | 'peerUrl' | 'advertiseUrl' | 'bind' | 'replicationMode' | 'heartbeatMs' | 'peerPromiseMs'
  >;
  log: Logger;
  /** the admin token presented to the peer */
  peerToken: () => string;
  guard: ServingGuard;
  ledger: Ledger;
  role(): Role;
  epoch(): number;
  /** the active's entries and snapshots, for the member to apply while it is standby */
  applyEntries(entries: LogEntry[], jsons?: readonly string[]): void;
  applySnapshot(snap: SnapshotResponse): void;
  /** the peer said its role and epoch (the follower heard from it) */
  sawPeer(role: Role, epoch: number, wall: number, advertiseUrl: string | null): void;
  /** the standby named its epoch in a request or an acknowledgement */
  standbyEpoch(epoch: number | undefined): void;
};

export type ReplicationLag = { entries: number; seconds: number };

/** A standby's long-poll: GET /v1/replication/entries. */
export type EntriesQuery = {
  after: number;
  afterEpoch: number;
  wait: number;
  epoch?: number | undefined;
  hb?: number | undefined;
};
/** A standby opening the stream: GET /v1/replication/stream. */
export type StreamQuery = { after: number; afterEpoch: number; epoch?: number | undefined };
/** An open stream: the transport reports acks (`ack`), drains and its end through it. */
export type OpenStream = {
  ok: true;
  ack: (seq: number, epoch: number, hb?: number) => void;
  handle: StreamHandle;
};

export class MemberReplication {
  private readonly opts: MemberReplicationOptions;
  private sourceValue: ReplicationSource;
  private follower: Follower | undefined;
  /** knownActiveSeq of the follower stopped last (a standby being promoted has none running) */
  private lastFollowerKnew: number | undefined;
  /** the P the active this member follows announced last (its acknowledgements promise at least that) */
  private activePromiseMs: number | undefined;
  private peerSeenAt = -Infinity;
  private peerSkew: number | null = null;
  private closed = false;

  constructor(opts: MemberReplicationOptions) {
    this.opts = opts;
    this.sourceValue = this.newSource();
  }

  private now(): number {
    return performance.now();
  }

  private get active(): boolean {
    return this.opts.role() === 'active';
  }

  /** The active side: the log window the standby reads and acknowledges. */
  get source(): ReplicationSource {
    return this.sourceValue;
  }

  private newSource(): ReplicationSource {
    return new ReplicationSource({
      mode: this.opts.config.replicationMode,
      heartbeatMs: this.opts.config.heartbeatMs,
      onAck: (seq, anchorAt) => this.opts.guard.acked(seq, anchorAt),
    });
  }

  /** Promotion: a new source whose log begins after entry `seq` of `epoch`. */
  renewSource(seq: number, epoch: number): void {
    // Active now: what an active announced before says nothing about this member once it steps down.
    this.lastFollowerKnew = undefined;
    this.sourceValue.close();
    this.sourceValue = this.newSource();
    this.sourceValue.reset(seq, epoch);
  }

  /** Stepping down: every long-poll is answered and every stream ended. */
  closeSource(): void {
    this.sourceValue.close();
  }

  /** The last seq the active this member followed was known to have (undefined: none). */
  get knownActiveSeq(): number | undefined {
    return this.follower?.knownActiveSeq ?? this.lastFollowerKnew;
  }

  /** Standby: follow the peer (a member without a peer follows nobody). */
  startFollower(): void {
    const { config, guard, ledger, log } = this.opts;
    if (!config.peerUrl || this.closed) return;
    // Until this active says its P, promise the unannounced one: what an active heard before
    // (another process, another role) says nothing of this one.
    this.activePromiseMs = undefined;
    this.follower = new Follower(
      {
        position: () => ({ seq: ledger.seq, epoch: ledger.epoch }),
        memberName: () => config.member,
        memberEpoch: () => this.opts.epoch(),
        applyEntries: (entries, jsons) => this.opts.applyEntries(entries, jsons),
        applySnapshot: (snap) => this.opts.applySnapshot(snap),
        sawPeer: (info) => {
          if (info.role === 'active') this.activePromiseMs = info.p;
          this.opts.sawPeer(info.role, info.epoch, info.wall, info.advertiseUrl);
        },
        log: (level, msg, extra) => log[level](extra ?? {}, msg),
        promising: () => guard.promisedPeer(this.activePromiseMs),
      },
      {
        peerUrl: config.peerUrl,
        token: this.opts.peerToken,
        // A member bound to one address talks to its peer from it too (multi-homed hosts,
        // and firewall rules written per member address).
        ...(config.bind !== '0.0.0.0' && config.bind !== '::' ? { localAddress: config.bind } : {}),
      },
    );
    this.follower.start();
  }

  /** Promotion: the follower stops and is forgotten. */
  async stopFollower(): Promise<void> {
    const f = this.follower;
    // Still what the last active announced while this member is promoted (its readiness reads it).
    this.lastFollowerKnew = f?.knownActiveSeq ?? this.lastFollowerKnew;
    this.follower = undefined;
    await f?.stop();
  }

  /** Shutdown: the follower stops and none starts again. */
  async closeFollower(): Promise<void> {
    this.closed = true;
    await this.follower?.stop();
  }

  /** The peer was heard from; `wall`: its wall clock then, when it said (NaN: it did not). */
  heardFromPeer(wall: number): void {
    this.peerSeenAt = this.now();
    if (Number.isFinite(wall)) this.peerSkew = (wall - Date.now()) / 1000;
  }

  // ------------------------------------------------------------------------- what it reports

  lag(): ReplicationLag {
    if (this.active) return this.sourceValue.lag();
    return this.follower?.lag() ?? { entries: 0, seconds: 0 };
  }

  peerLastSeenSeconds(): number | null {
    const own = Number.isFinite(this.peerSeenAt) ? (this.now() - this.peerSeenAt) / 1000 : null;
    const other = this.active ? this.sourceValue.peerLastSeenSeconds() : this.follower?.peerLastSeenSeconds();
    const all = [own, other ?? null].filter((x): x is number => x !== null);
    return all.length ? Math.min(...all) : null;
  }

  state(): ReplicationState {
    const { peerUrl } = this.opts.config;
    if (this.active) {
      const st = this.sourceValue.state();
      return st === 'disconnected' && !peerUrl ? 'none' : st;
    }
    if (!peerUrl) return 'none';
    return this.follower?.state() ?? 'disconnected';
  }

  mode(): 'sync' | 'async' {
    return this.active ? this.sourceValue.effectiveMode() : this.opts.config.replicationMode;
  }

  clockSkewSeconds(): number | null {
    return this.active ? this.peerSkew : (this.follower?.skewSeconds ?? this.peerSkew);
  }

  // ------------------------------------------------------------------------- the standby's requests

  snapshotForPeer(): SnapshotResponse | AdminRefusal {
    if (!this.active) return refuse(503, 'NOT_ACTIVE', 'this member is not active');
    return {
      role: 'active',
      epoch: this.opts.epoch(),
      wall: Date.now(),
      advertiseUrl: this.opts.config.advertiseUrl,
      p: this.opts.config.peerPromiseMs,
      ledger: this.opts.ledger.snapshot(this.now()),
    };
  }

  /**
   * Answer a standby's poll. `respond` is called once, now or later; returns a refusal when
   * the poll cannot be served at all.
   */
  entriesForPeer(
    q: EntriesQuery,
    respond: (json: string) => void,
  ): AdminRefusal | { ok: true; cancel: () => void } {
    this.opts.standbyEpoch(q.epoch);
    if (!this.active) return refuse(503, 'NOT_ACTIVE', 'this member is not active');
    this.peerSeenAt = this.now();
    const src = this.sourceValue;
    // an EntriesResponse, with the entries' JSON texts as they were serialised for the journal
    const cb = (entries: readonly string[], n: number): void => {
      const head: Omit<EntriesResponse, 'entries'> = {
        role: this.opts.role(),
        epoch: this.opts.epoch(),
        lastSeq: src.lastSeq,
        wall: Date.now(),
        advertiseUrl: this.opts.config.advertiseUrl,
        p: this.opts.config.peerPromiseMs,
        n,
      };
      respond(`${JSON.stringify(head).slice(0, -1)},"entries":[${entries.join(',')}]}`);
    };
    const r = src.poll(q.after, q.afterEpoch, q.wait, cb, q.hb);
    if (r === 'snapshot') return snapshotRequired(q);
    return { ok: true, cancel: () => src.cancel(cb) };
  }

  /**
   * A standby opens the replication stream (GET /v1/replication/stream, upgraded). Returns a
   * refusal, or the handle through which the transport reports acks (`ack`), drains and the
   * end of the connection.
   */
  streamForPeer(q: StreamQuery, sink: StreamSink): AdminRefusal | OpenStream {
    this.opts.standbyEpoch(q.epoch);
    if (!this.active) return refuse(503, 'NOT_ACTIVE', 'this member is not active');
    this.peerSeenAt = this.now();
    const src = this.sourceValue;
    const heartbeat = (n: number): string => {
      const hb: StreamHeartbeat = {
        hb: 1,
        role: this.opts.role(),
        epoch: this.opts.epoch(),
        lastSeq: src.lastSeq,
        wall: Date.now(),
        advertiseUrl: this.opts.config.advertiseUrl,
        p: this.opts.config.peerPromiseMs,
        n,
      };
      return JSON.stringify(hb);
    };
    const handle = src.subscribe(q.after, q.afterEpoch, sink, heartbeat);
    if (handle === 'snapshot') return snapshotRequired(q);
    return {
      ok: true,
      handle,
      ack: (seq, epoch, hb) => {
        // An acknowledgement from a higher epoch is no promise to this member: it steps down.
        this.opts.standbyEpoch(epoch);
        if (epoch <= this.opts.epoch()) handle.ack(seq, hb);
      },
    };
  }
}

function snapshotRequired(q: { after: number; afterEpoch: number }): AdminRefusal {
  return refuse(
    409,
    'SNAPSHOT_REQUIRED',
    `entry ${q.after} (epoch ${q.afterEpoch}) is not in this member's log window; resync from a snapshot`,
  );
}
