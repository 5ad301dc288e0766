// A member of a licence-server pair: the ledger with its journal, the licence in force, the role
// and epoch, and replication (source when active, follower when standby). The HTTP layer
// (http.ts) is a thin shell over this class; main.ts wires it to the environment.
import fs from 'node:fs';
import type { Logger } from 'pino';
import type { ServerConfig } from './config.ts';
import { Ledger } from './ledger.ts';
import type { CheckoutRequest, Denial, Granted, Lease, LogEntry, Released } from './ledger.ts';
import { LicenceError, verifyLicence } from './licence-file.ts';
import type { VerifiedLicence } from './licence-file.ts';
import { createMetrics } from './metrics.ts';
import type { Metrics } from './metrics.ts';
import type { LeaseJson, LicenceJson, StatusJson } from './protocol.ts';
import { peerGet, peerPost, sleep } from './peer-client.ts';
import { Follower } from './replication-follower.ts';
import { ReplicationSource } from './replication-source.ts';
import type { StreamHandle, StreamSink } from './replication-source.ts';
import { ServingGuard } from './serving.ts';
import type { Refusal } from './serving.ts';
import type { EntriesResponse, SnapshotResponse, StreamHeartbeat } from './replication.ts';
import { Store } from './store.ts';

export type Role = 'active' | 'standby';

export type AdminRefusal = { ok: false; status: number; code: string; message: string };
export type RoleResult = { ok: true; role: Role; epoch: number } | AdminRefusal;

type LicenceState = {
  state: 'valid' | 'invalid' | 'expired' | 'missing';
  message: string;
  /** the refusal code of the file, when no licence is in force */
  code?: string;
  lastError?: string;
  lastErrorCode?: string;
  verified?: VerifiedLicence;
};

export type MemberOptions = {
  config: ServerConfig;
  logger: Logger;
  usageLogger: Logger | undefined;
  /** the admin token presented to the peer */
  peerToken: () => string;
};

export class Member {
  readonly config: ServerConfig;
  readonly log: Logger;
  readonly metrics: Metrics;
  private readonly usageLog: Logger | undefined;
  private readonly peerToken: () => string;
  private readonly ledger: Ledger;
  private readonly store: Store;
  private source: ReplicationSource;
  private readonly guard: ServingGuard;
  private follower: Follower | undefined;
  private roleValue: Role = 'standby';
  private epochValue = 0;
  private licence: LicenceState = { state: 'missing', message: 'no licence loaded yet' };
  private activeUrl: string | null = null;
  private timers: NodeJS.Timeout[] = [];
  private peerSeenAt = -Infinity;
  private peerSkew: number | null = null;
  private roleChange: Promise<unknown> = Promise.resolve();
  private licenceStamp = '';
  private closed = false;

  constructor(opts: MemberOptions) {
    this.config = opts.config;
    this.log = opts.logger;
    this.usageLog = opts.usageLogger;
    this.peerToken = opts.peerToken;
    this.ledger = new Ledger({ leaseTtlMs: this.config.leaseTtlMs });
    this.store = new Store({ dir: this.config.stateDir, fsync: this.config.fsync });
    this.guard = new ServingGuard({
      paired: this.config.peerUrl !== undefined,
      peerPromiseMs: this.config.peerPromiseMs,
      mode: this.config.replicationMode,
      syncTimeoutMs: this.config.syncTimeoutMs,
      onTimeout: () => this.source.behind(),
    });
    this.source = this.newSource();
    this.metrics = createMetrics({
      usage: () => this.ledger.usage(Date.now()),
      activeLeases: () => this.ledger.leaseCount,
      role: () => this.roleValue,
      epoch: () => this.epochValue,
      lag: () => this.lag(),
      peerLastSeenSeconds: () => this.peerLastSeenSeconds(),
      licenceValid: () => this.licence.state === 'valid',
      serving: () => this.guard.right(),
    });
  }

  get role(): Role {
    return this.roleValue;
  }
  get epoch(): number {
    return this.epochValue;
  }
  get seq(): number {
    return this.ledger.seq;
  }

  private now(): number {
    return performance.now();
  }

  private newSource(): ReplicationSource {
    return new ReplicationSource({
      mode: this.config.replicationMode,
      heartbeatMs: this.config.heartbeatMs,
      onAck: (seq, anchorAt) => this.guard.acked(seq, anchorAt),
    });
  }

  /** Load the journal and the licence; every member starts as standby. */
  start(): void {
    const loaded = this.store.open();
    const mono = this.now();
    const wall = Date.now();
    if (loaded.snapshot) this.ledger.restore(loaded.snapshot.ledger, mono - (wall - loaded.snapshot.wall));
    for (const { wall: w, entry } of loaded.entries) this.ledger.apply(entry, mono - (wall - w));
    this.epochValue = Math.max(loaded.meta.epoch, this.ledger.epoch);
    this.log.info(
      {
        seq: this.ledger.seq,
        epoch: this.epochValue,
        leases: this.ledger.leaseCount,
        skipped: loaded.skipped,
      },
      'state loaded; starting as standby',
    );
    this.reloadLicence('start');
    if (this.config.licenseFile) {
      const check = setInterval(() => this.checkLicenceFiles(), this.config.licenceCheckMs);
      check.unref();
      this.timers.push(check);
    }
    const sweep = setInterval(() => this.sweep(), this.config.sweepIntervalMs);
    sweep.unref();
    this.timers.push(sweep);
    if (this.config.peerUrl) {
      const mon = setInterval(() => void this.watchPeer(), 1000);
      mon.unref();
      this.timers.push(mon);
      this.startFollower();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    await this.follower?.stop();
    this.guard.close();
    this.source.close();
    this.store.close();
  }

  // ------------------------------------------------------------------------- licence

  private fileStamp(): string {
    const parts = [this.config.licenseFile, this.config.publicKeyFile].map((f) => {
      try {
        const s = fs.statSync(f as string);
        return `${s.mtimeMs}:${s.size}:${s.ino}`;
      } catch {
        return 'missing';
      }
    });
    return parts.join('|');
  }

  private checkLicenceFiles(): void {
    if (this.fileStamp() !== this.licenceStamp) this.reloadLicence('file changed');
    else if (
      this.licence.verified &&
      this.licence.state === 'valid' &&
      Date.now() >= this.licence.verified.expiresMs
    )
      this.reloadLicence('expiry check');
  }

  /** Load the licence file; a refused file leaves the last good one in force. */
  reloadLicence(why: string): { ok: boolean; message: string } {
    this.licenceStamp = this.fileStamp();
    const { licenseFile, publicKeyFile } = this.config;
    let result: VerifiedLicence;
    try {
      if (!licenseFile || !publicKeyFile) throw new LicenceError('UNREADABLE', 'no licence file configured');
      let text: string;
      let key: string;
      try {
        text = fs.readFileSync(licenseFile, 'utf8');
      } catch (err) {
        throw new LicenceError(
          'UNREADABLE',
          `cannot read licence file ${licenseFile}: ${(err as Error).message}`,
        );
      }
      try {
        key = fs.readFileSync(publicKeyFile, 'utf8');
      } catch (err) {
        throw new LicenceError(
          'UNREADABLE',
          `cannot read public key ${publicKeyFile}: ${(err as Error).message}`,
        );
      }
      result = verifyLicence(text, key, { pairId: this.config.pairId, now: Date.now() });
    } catch (err) {
      const message =
        err instanceof LicenceError ? err.message : `unexpected error: ${(err as Error).message}`;
      const code = err instanceof LicenceError ? err.code : 'INTERNAL';
      this.metrics.licenceReloads.inc({ result: 'refused' });
      if (this.licence.verified && Date.now() < this.licence.verified.expiresMs) {
        this.licence = {
          ...this.licence,
          lastError: `licence file refused (${why}): ${message}`,
          lastErrorCode: code,
        };
        this.log.error(
          { code, why },
          `licence file refused, the previous licence stays in force: ${message}`,
        );
      } else {
        const state = code === 'EXPIRED' ? 'expired' : code === 'UNREADABLE' ? 'missing' : 'invalid';
        this.licence = { state, message, code, lastError: message, lastErrorCode: code };
        this.log.error({ code, why }, `licence file refused: ${message}`);
      }
      return { ok: false, message };
    }
    this.ledger.setFeatures(result.features);
    this.licence = { state: 'valid', message: result.summary, verified: result };
    this.metrics.licenceReloads.inc({ result: 'ok' });
    this.log.info(
      { why, issuedTo: result.licence.issuedTo, issuer: result.licence.issuer },
      `licence loaded: ${result.summary}`,
    );
    return { ok: true, message: result.summary };
  }

  licenceValid(): boolean {
    return this.licence.state === 'valid';
  }

  // ------------------------------------------------------------------------- leases (active)

  private notActive(): Denial {
    return {
      ok: false,
      code: 'NOT_ACTIVE',
      message: this.activeUrl
        ? `this member is standby; the active member is ${this.activeUrl}`
        : 'this member is standby and does not know the active member',
      entries: [],
    };
  }

  get activeAddress(): string | null {
    return this.roleValue === 'active' ? this.config.advertiseUrl : this.activeUrl;
  }

  /** The peer's client address when it last said it is active (a refused client may try it). */
  get otherActiveAddress(): string | null {
    return this.activeUrl !== this.config.advertiseUrl ? this.activeUrl : null;
  }

  /** Persist and replicate entries (no client waits on them: promotion, expiry). */
  private persist(entries: LogEntry[]): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    // serialised once, for the standby and for the journal (the stream is written first in the
    // next turn, so the standby works while the journal is written)
    const jsons = entries.map((e) => JSON.stringify(e));
    this.source.push(entries, jsons);
    this.store.appendSerialized(jsons, Date.now());
    if (this.store.journalEntries >= this.config.compactEvery) this.compactInBackground();
    return this.store.durable();
  }

  /**
   * Persist and replicate the entries of a change, then wait until it may be acknowledged (R4):
   * resolves with the refusal when it may not. A change without entries (an existing lease)
   * waits for everything before it, since the client is told about that state.
   */
  private async commit(entries: LogEntry[]): Promise<Refusal | undefined> {
    const durable = this.persist(entries);
    const [, verdict] = await Promise.all([durable, this.guard.acknowledge(this.ledger.seq)]);
    return verdict.ok ? undefined : verdict;
  }

  /** A change that was (or would be) refused for want of a serving right: retryable, never a silent success. */
  private noQuorum(v: Refusal): Denial {
    this.metrics.quorumRefusals.inc({ reason: v.reason });
    return { ok: false, code: 'NO_QUORUM', message: v.message, entries: [] };
  }

  /**
   * Before a change: wait (up to the sync timeout) until this member holds a right, so that a
   * member cut off from its standby and the operator changes nothing at all.
   */
  private async serving(): Promise<Denial | undefined> {
    if (this.roleValue !== 'active') return this.notActive();
    const v = await this.guard.whenServing();
    if (this.roleValue !== 'active') return this.notActive();
    return v.ok ? undefined : this.noQuorum(v);
  }

  private compact(): void {
    const t = this.now();
    this.store.compact(this.ledger.snapshot(t), Date.now());
    this.log.info({ seq: this.ledger.seq, ms: Math.round(this.now() - t) }, 'journal compacted');
  }

  /** Compaction while serving: the snapshot is written without holding requests up. */
  private compactInBackground(): void {
    const t = this.now();
    const seq = this.ledger.seq;
    this.store.compactInBackground(this.ledger.snapshot(t), Date.now(), (err) => {
      if (err) this.log.error({ seq, error: err.message }, 'journal compaction failed');
      else this.log.info({ seq, ms: Math.round(this.now() - t) }, 'journal compacted');
    });
  }

  /**
   * Carry out one change of the ledger under the serving rules: a right first, then the change,
   * then its acknowledgement. A denial (no seat, unknown lease) waits for the acknowledgement of
   * everything before it too: it reads state that a refused change may have left on this member
   * only (a release refused for want of the standby's ack must not make the next renewal of that
   * lease a LEASE_NOT_FOUND).
   */
  private async change<T extends { ok: true } | Denial>(
    apply: () => T & { entries: LogEntry[] },
  ): Promise<T | Denial> {
    const before = await this.serving();
    if (before) return before;
    const r = apply();
    const refused = await this.commit(r.entries);
    if (refused) return this.noQuorum(refused);
    return r;
  }

  async checkout(req: CheckoutRequest): Promise<Granted | Denial> {
    if (this.roleValue !== 'active') return this.notActive();
    if (!this.licence.verified)
      return {
        ok: false,
        code: 'UNKNOWN_FEATURE',
        message: `no valid licence is loaded: ${this.licence.message}`,
        entries: [],
      };
    const r = await this.change(() => this.ledger.checkout(req, this.now(), Date.now()));
    if (r.ok || (r.code !== 'NO_QUORUM' && r.code !== 'NOT_ACTIVE')) this.usage(req, r);
    return r;
  }

  renew(id: string, clientId: string): Promise<Granted | Denial> {
    return this.change(() => this.ledger.renew(id, clientId, this.now()));
  }

  async release(id: string, clientId: string): Promise<Released | Denial> {
    const r = await this.change(() => this.ledger.release(id, clientId, this.now()));
    if (r.ok)
      this.usageLog?.info({
        event: 'release',
        client: clientId,
        user: r.lease.user,
        host: r.lease.host,
        feature: r.lease.feature,
        leaseId: id,
      });
    return r;
  }

  revoke(id: string): Promise<Released | Denial> {
    return this.change(() => this.ledger.revoke(id, this.now()));
  }

  private usage(req: CheckoutRequest, r: Granted | Denial): void {
    const feature = r.ok || r.code !== 'UNKNOWN_FEATURE' ? req.feature : '(unknown)';
    if (r.ok) this.metrics.checkouts.inc({ feature, result: r.existing ? 'existing' : 'granted' });
    else {
      this.metrics.checkouts.inc({ feature, result: 'denied' });
      this.metrics.denials.inc({ feature, reason: r.code });
    }
    this.usageLog?.info({
      event: 'checkout',
      client: req.clientId,
      user: req.user,
      host: req.host,
      feature: req.feature,
      count: req.count,
      result: r.ok ? 'accepted' : 'denied',
      reason: r.ok ? (r.existing ? 'EXISTING' : 'GRANTED') : r.code,
      ...(r.ok ? { leaseId: r.lease.id } : {}),
    });
  }

  recordDenial(feature: string, code: string): void {
    this.metrics.denials.inc({ feature, reason: code });
  }

  leaseJson(l: Lease, existing: boolean): LeaseJson {
    const now = this.now();
    const remaining = Math.max(0, l.expiresAt - now);
    return {
      id: l.id,
      feature: l.feature,
      count: l.count,
      clientId: l.clientId,
      user: l.user,
      host: l.host,
      expiresInSeconds: Math.round(remaining) / 1000,
      renewAfterSeconds: Math.round(Math.max(0, l.renewAfter - now)) / 1000,
      expiresAt: new Date(Date.now() + remaining).toISOString(),
      existing,
    };
  }

  leases(): Lease[] {
    return this.ledger.listLeases();
  }

  features(): ReturnType<Ledger['usage']> {
    return this.ledger.usage(Date.now());
  }

  private sweep(): void {
    if (this.roleValue !== 'active') return;
    const entries = this.ledger.sweep(this.now());
    if (entries.length > 0) void this.persist(entries);
  }

  // ------------------------------------------------------------------------- roles

  /** Serialise role changes: promote/demote/step-down never interleave. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.roleChange.then(fn, fn);
    this.roleChange = next.catch(() => undefined);
    return next;
  }

  promote(epoch: number, force: boolean, grant?: { anchor: number; ms: number }): Promise<RoleResult> {
    return this.serial(async () => {
      // A standby may already know epoch N from its peer (the peer was demoted with N just before
      // this promotion with N): equal is fine for a standby, and a repeat for an active member.
      if (epoch < this.epochValue || (epoch === this.epochValue && this.roleValue === 'active'))
        return refuse(
          409,
          'STALE_EPOCH',
          `epoch ${epoch} is not above this member's epoch ${this.epochValue}`,
        );
      let peerStepped = false;
      if (!force && this.config.peerUrl) {
        try {
          const peer = await peerGet<StatusJson>(`${this.config.peerUrl}/v1/status`, this.peerToken(), 1000);
          this.notePeer(peer.role, peer.epoch, Date.parse(peer.time), peer.advertiseUrl);
          if (peer.role === 'active' && peer.epoch >= epoch)
            return refuse(409, 'PEER_ACTIVE', `the peer is active with epoch ${peer.epoch} ≥ ${epoch}`);
          peerStepped = peer.role === 'standby';
        } catch (err) {
          // An unreachable peer cannot accept writes from our clients' point of view for long:
          // it steps down when it sees our higher epoch.
          this.log.warn({ error: (err as Error).message }, 'promote: peer status unavailable');
        }
        if (epoch < this.epochValue)
          return refuse(
            409,
            'STALE_EPOCH',
            `epoch ${epoch} is not above this member's epoch ${this.epochValue}`,
          );
      }
      // An epoch already begun in this member's journal (it was active in it, or followed an active
      // that was) cannot begin twice: a member demoted with its own epoch is not promoted with it.
      if (epoch <= this.ledger.epoch)
        return refuse(
          409,
          'STALE_EPOCH',
          `epoch ${epoch} was already begun (journal epoch ${this.ledger.epoch})`,
        );
      if (!force && this.roleValue === 'standby') {
        const known = this.follower?.knownActiveSeq;
        if (known !== undefined && this.ledger.seq < known)
          return refuse(
            409,
            'NOT_CAUGHT_UP',
            `this member has seq ${this.ledger.seq}, the last active it followed had ${known}`,
          );
      }
      await this.stopFollower();
      // R5: no acknowledgement goes out any more; become active once the last one's promise
      // has expired, or as soon as the peer confirms it no longer grants.
      const waited = await this.waitOutPromise(epoch, peerStepped);
      this.setEpoch(epoch);
      const t = this.now();
      this.source.close();
      this.source = this.newSource();
      this.source.reset(this.ledger.seq, this.ledger.epoch);
      const entry = this.ledger.beginEpoch(epoch, t);
      this.guard.becomeActive(epoch, entry.seq);
      if (grant) {
        const g = this.guard.grant({ epoch, ...grant });
        if (!g.ok) this.log.warn({ epoch, code: g.code }, `promote: solo grant refused: ${g.message}`);
      }
      this.roleValue = 'active';
      await this.persist([entry]);
      // Leases that expired while nobody was active go now.
      this.sweep();
      this.log.warn({ epoch, seq: this.ledger.seq, force, waitedMs: waited }, 'promoted to active');
      return { ok: true, role: 'active', epoch };
    });
  }

  /**
   * R5: wait until this member's last promise to its peer has expired, demoting the peer
   * meanwhile (with the new epoch) so that a reachable peer ends the wait at once. Returns the
   * time waited, ms.
   */
  private async waitOutPromise(epoch: number, peerStepped: boolean): Promise<number> {
    const wait = this.guard.promotionWaitMs(peerStepped);
    if (wait === 0 || !this.config.peerUrl) return 0;
    const t0 = this.now();
    const fenced = await peerPost<{ role: Role; epoch: number }>(
      `${this.config.peerUrl}/v1/admin/demote`,
      this.peerToken(),
      { epoch },
      wait,
    ).then(
      (r) => r.role === 'standby',
      () => false,
    );
    const rest = this.guard.promotionWaitMs(fenced);
    if (rest > 0) await sleep(rest);
    return Math.round(this.now() - t0);
  }

  /** R3: the operator's grant to serve alone. */
  grant(g: { epoch: number; anchor: number; ms: number }): { ok: true } | AdminRefusal {
    if (this.roleValue !== 'active') return refuse(409, 'NOT_ACTIVE', 'this member is not active');
    const r = this.guard.grant(g);
    return r.ok ? r : refuse(409, r.code, r.message);
  }

  demote(epoch: number): Promise<RoleResult> {
    return this.serial(async () => {
      if (epoch < this.epochValue)
        return refuse(409, 'STALE_EPOCH', `epoch ${epoch} is below this member's epoch ${this.epochValue}`);
      this.setEpoch(epoch);
      if (this.roleValue === 'active') this.becomeStandby(`demoted with epoch ${epoch}`);
      return { ok: true, role: 'standby', epoch: this.epochValue };
    });
  }

  private becomeStandby(reason: string): void {
    this.roleValue = 'standby';
    this.guard.becomeStandby();
    this.source.close();
    this.log.warn({ epoch: this.epochValue, seq: this.ledger.seq }, `now standby: ${reason}`);
    this.startFollower();
  }

  private setEpoch(epoch: number): void {
    if (epoch === this.epochValue) return;
    this.epochValue = epoch;
    this.store.saveMeta({ epoch });
  }

  /** Record what the peer told us; step down when it knows a higher epoch. */
  private notePeer(role: Role, epoch: number, wall: number, advertiseUrl: string | null): void {
    this.peerSeenAt = this.now();
    if (Number.isFinite(wall)) this.peerSkew = (wall - Date.now()) / 1000;
    if (role === 'active') this.activeUrl = advertiseUrl;
    if (epoch > this.epochValue) {
      const wasActive = this.roleValue === 'active';
      this.setEpoch(epoch);
      if (wasActive) this.becomeStandby(`the peer has the higher epoch ${epoch}`);
    }
  }

  private async watchPeer(): Promise<void> {
    if (!this.config.peerUrl || this.closed) return;
    try {
      const peer = await peerGet<StatusJson>(`${this.config.peerUrl}/v1/status`, this.peerToken(), 900);
      void this.serial(async () =>
        this.notePeer(peer.role, peer.epoch, Date.parse(peer.time), peer.advertiseUrl),
      );
    } catch {
      // reported through peerLastSeenSeconds
    }
  }

  private startFollower(): void {
    if (!this.config.peerUrl || this.closed) return;
    this.follower = new Follower(
      {
        position: () => ({ seq: this.ledger.seq, epoch: this.ledger.epoch }),
        memberName: () => this.config.member,
        memberEpoch: () => this.epochValue,
        applyEntries: (entries, jsons) => this.applyEntries(entries, jsons),
        applySnapshot: (snap) => this.applySnapshot(snap),
        sawPeer: (info) => this.notePeer(info.role, info.epoch, info.wall, info.advertiseUrl),
        log: (level, msg, extra) => this.log[level](extra ?? {}, msg),
        promising: () => this.guard.promisedPeer(),
      },
      {
        peerUrl: this.config.peerUrl,
        token: this.peerToken,
        // A member bound to one address talks to its peer from it too (multi-homed hosts,
        // and firewall rules written per member address).
        ...(this.config.bind !== '0.0.0.0' && this.config.bind !== '::'
          ? { localAddress: this.config.bind }
          : {}),
      },
    );
    this.follower.start();
  }

  private async stopFollower(): Promise<void> {
    const f = this.follower;
    this.follower = undefined;
    await f?.stop();
  }

  private applyEntries(entries: LogEntry[], jsons?: readonly string[]): void {
    if (this.roleValue !== 'standby') return;
    const t = this.now();
    const applied: string[] = [];
    try {
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i] as LogEntry;
        if (e.seq <= this.ledger.seq) continue;
        this.ledger.apply(e, t);
        applied.push(jsons?.[i] ?? JSON.stringify(e));
      }
    } finally {
      this.store.appendSerialized(applied, Date.now());
    }
    if (this.store.journalEntries >= this.config.compactEvery) this.compactInBackground();
  }

  private applySnapshot(snap: SnapshotResponse): void {
    if (this.roleValue !== 'standby') return;
    this.ledger.restore(snap.ledger, this.now());
    this.compact();
  }

  // ------------------------------------------------------------------------- replication source

  snapshotForPeer(): SnapshotResponse | AdminRefusal {
    if (this.roleValue !== 'active') return refuse(503, 'NOT_ACTIVE', 'this member is not active');
    return {
      role: 'active',
      epoch: this.epochValue,
      wall: Date.now(),
      advertiseUrl: this.config.advertiseUrl,
      ledger: this.ledger.snapshot(this.now()),
    };
  }

  /**
   * Answer a standby's poll. `respond` is called once, now or later; returns a refusal when
   * the poll cannot be served at all.
   */
  entriesForPeer(
    q: {
      after: number;
      afterEpoch: number;
      wait: number;
      epoch?: number | undefined;
      hb?: number | undefined;
    },
    respond: (json: string) => void,
  ): AdminRefusal | { ok: true; cancel: () => void } {
    this.peerEpoch(q.epoch);
    if (this.roleValue !== 'active') return refuse(503, 'NOT_ACTIVE', 'this member is not active');
    this.peerSeenAt = this.now();
    const src = this.source;
    // an EntriesResponse, with the entries' JSON texts as they were serialised for the journal
    const cb = (entries: readonly string[], n: number): void => {
      const head: Omit<EntriesResponse, 'entries'> = {
        role: this.roleValue,
        epoch: this.epochValue,
        lastSeq: src.lastSeq,
        wall: Date.now(),
        advertiseUrl: this.config.advertiseUrl,
        n,
      };
      respond(`${JSON.stringify(head).slice(0, -1)},"entries":[${entries.join(',')}]}`);
    };
    const r = src.poll(q.after, q.afterEpoch, q.wait, cb, q.hb);
    if (r === 'snapshot')
      return refuse(
        409,
        'SNAPSHOT_REQUIRED',
        `entry ${q.after} (epoch ${q.afterEpoch}) is not in this member's log window; resync from a snapshot`,
      );
    return { ok: true, cancel: () => src.cancel(cb) };
  }

  /**
   * A standby opens the replication stream (GET /v1/replication/stream, upgraded). Returns a
   * refusal, or the handle through which the transport reports acks (`ack`), drains and the
   * end of the connection.
   */
  streamForPeer(
    q: { after: number; afterEpoch: number; epoch?: number | undefined },
    sink: StreamSink,
  ):
    | AdminRefusal
    | { ok: true; ack: (seq: number, epoch: number, hb?: number) => void; handle: StreamHandle } {
    this.peerEpoch(q.epoch);
    if (this.roleValue !== 'active') return refuse(503, 'NOT_ACTIVE', 'this member is not active');
    this.peerSeenAt = this.now();
    const src = this.source;
    const heartbeat = (n: number): string => {
      const hb: StreamHeartbeat = {
        hb: 1,
        role: this.roleValue,
        epoch: this.epochValue,
        lastSeq: src.lastSeq,
        wall: Date.now(),
        advertiseUrl: this.config.advertiseUrl,
        n,
      };
      return JSON.stringify(hb);
    };
    const handle = src.subscribe(q.after, q.afterEpoch, sink, heartbeat);
    if (handle === 'snapshot')
      return refuse(
        409,
        'SNAPSHOT_REQUIRED',
        `entry ${q.after} (epoch ${q.afterEpoch}) is not in this member's log window; resync from a snapshot`,
      );
    return {
      ok: true,
      handle,
      ack: (seq, epoch, hb) => {
        // An acknowledgement from a higher epoch is no promise to this member: it steps down.
        this.peerEpoch(epoch);
        if (epoch <= this.epochValue) handle.ack(seq, hb);
      },
    };
  }

  /** The standby told us its epoch: a higher one makes this member step down. */
  private peerEpoch(epoch: number | undefined): void {
    if (epoch !== undefined && epoch > this.epochValue)
      void this.serial(async () => this.notePeer('standby', epoch, NaN, null));
  }

  // ------------------------------------------------------------------------- status

  private lag(): { entries: number; seconds: number } {
    if (this.roleValue === 'active') return this.source.lag();
    return this.follower?.lag() ?? { entries: 0, seconds: 0 };
  }

  private peerLastSeenSeconds(): number | null {
    const own = Number.isFinite(this.peerSeenAt) ? (this.now() - this.peerSeenAt) / 1000 : null;
    const other =
      this.roleValue === 'active' ? this.source.peerLastSeenSeconds() : this.follower?.peerLastSeenSeconds();
    const all = [own, other ?? null].filter((x): x is number => x !== null);
    return all.length ? Math.min(...all) : null;
  }

  replicationState(): StatusJson['replication']['state'] {
    if (this.roleValue === 'active') {
      const st = this.source.state();
      return st === 'disconnected' && !this.config.peerUrl ? 'none' : st;
    }
    if (!this.config.peerUrl) return 'none';
    return this.follower?.state() ?? 'disconnected';
  }

  /** Ready: it can serve licences in its role (a standby that could not serve once promoted is not). */
  ready(): { ready: boolean; reason: string } {
    if (this.licence.state !== 'valid')
      return { ready: false, reason: `${this.roleValue} without a valid licence: ${this.licence.message}` };
    if (this.roleValue === 'active') return { ready: true, reason: 'active with a valid licence' };
    const st = this.replicationState();
    return st === 'in-sync'
      ? { ready: true, reason: 'standby following the active' }
      : { ready: false, reason: `standby, replication ${st}` };
  }

  private licenceJson(): LicenceJson {
    const l = this.licence;
    const v = l.state === 'valid' ? l.verified : undefined;
    return {
      state: l.state,
      message: l.message,
      ...(l.code && l.state !== 'valid' ? { code: l.code } : {}),
      ...(l.lastError ? { lastError: l.lastError } : {}),
      ...(l.lastErrorCode ? { lastErrorCode: l.lastErrorCode } : {}),
      ...(v
        ? {
            expires: new Date(v.expiresMs).toISOString(),
            firstExpiry: {
              feature: v.firstExpiry.feature,
              expires: new Date(v.firstExpiry.ms).toISOString(),
            },
          }
        : {}),
    };
  }

  status(): StatusJson {
    const lag = this.lag();
    const skew = this.roleValue === 'standby' ? (this.follower?.skewSeconds ?? this.peerSkew) : this.peerSkew;
    const peerSeen = this.peerLastSeenSeconds();
    return {
      member: this.config.member,
      pairId: this.config.pairId,
      role: this.roleValue,
      epoch: this.epochValue,
      ready: this.ready().ready,
      license: this.licenceJson(),
      replication: {
        state: this.replicationState(),
        mode: this.roleValue === 'active' ? this.source.effectiveMode() : this.config.replicationMode,
        lastSeq: this.ledger.seq,
        lagEntries: lag.entries,
        lagSeconds: round3(lag.seconds),
        peerLastSeenSeconds: peerSeen === null ? null : round3(peerSeen),
        clockSkewSeconds: skew === null ? null : round3(skew),
      },
      serving: this.guard.status(),
      time: new Date().toISOString(),
      activeLeases: this.ledger.leaseCount,
      advertiseUrl: this.config.advertiseUrl,
    };
  }
}

function refuse(status: number, code: string, message: string): AdminRefusal {
  return { ok: false, status, code, message };
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;
