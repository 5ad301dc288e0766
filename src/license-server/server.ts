// A member of a licence-server pair: lease changes under the serving rules, over the parts it
// is made of: the ledger kept on disk (ledger-journal.ts), the role and epoch (member-roles.ts),
// replication in either role (member-replication.ts), the serving rights (serving.ts), the
// licence in force (licence-watcher.ts), the usage log and counters (usage-log.ts) and the status
// report (status-report.ts). The HTTP layer (http.ts) is a thin shell over this class; main.ts
// wires it to the environment.
import type { Logger } from 'pino';
import type { AdminRefusal, Promotion, Role, RoleResult } from './admin-answers.ts';
import type { ServerConfig } from './config.ts';
import type { CheckoutRequest, Denial, Granted, Lease, Ledger, LogEntry, Released } from './ledger.ts';
import { LedgerJournal } from './ledger-journal.ts';
import { LicenceWatcher } from './licence-watcher.ts';
import { MemberReplication } from './member-replication.ts';
import type { EntriesQuery, OpenStream, StreamQuery } from './member-replication.ts';
import { MemberRoles } from './member-roles.ts';
import { createMetrics } from './metrics.ts';
import type { Metrics } from './metrics.ts';
import type { LeaseJson, SnapshotResponse, StatusJson } from './protocol.ts';
import type { StreamSink } from './replication-source.ts';
import { ServingGuard } from './serving.ts';
import type { Refusal } from './serving.ts';
import { readiness, statusReport } from './status-report.ts';
import type { StatusSources } from './status-report.ts';
import { UsageRecorder } from './usage-log.ts';

export type { AdminRefusal, Role, RoleResult } from './admin-answers.ts';

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
  private readonly journal: LedgerJournal;
  private readonly ledger: Ledger;
  private readonly guard: ServingGuard;
  private readonly replication: MemberReplication;
  private readonly roles: MemberRoles;
  private readonly licence: LicenceWatcher;
  private readonly usage: UsageRecorder;
  private timers: NodeJS.Timeout[] = [];
  private closed = false;

  constructor(opts: MemberOptions) {
    this.config = opts.config;
    this.log = opts.logger;
    this.journal = new LedgerJournal({
      config: this.config,
      log: this.log,
      replicate: (entries, jsons) => this.replication.source.push(entries, jsons),
    });
    this.ledger = this.journal.ledger;
    this.guard = new ServingGuard({
      paired: this.config.peerUrl !== undefined,
      peerPromiseMs: this.config.peerPromiseMs,
      mode: this.config.replicationMode,
      syncTimeoutMs: this.config.syncTimeoutMs,
      onTimeout: () => this.replication.source.behind(),
    });
    this.replication = new MemberReplication({
      config: this.config,
      log: this.log,
      peerToken: opts.peerToken,
      guard: this.guard,
      ledger: this.ledger,
      role: () => this.roles.role,
      epoch: () => this.roles.epoch,
      applyEntries: (entries, jsons) => {
        if (this.roles.role === 'standby') this.journal.applyReplicated(entries, jsons);
      },
      applySnapshot: (snap) => {
        if (this.roles.role === 'standby') this.journal.restore(snap.ledger);
      },
      sawPeer: (role, epoch, wall, advertiseUrl) => this.roles.sawPeer(role, epoch, wall, advertiseUrl),
      standbyEpoch: (epoch) => this.roles.standbyEpoch(epoch),
    });
    this.roles = new MemberRoles({
      config: this.config,
      log: this.log,
      peerToken: opts.peerToken,
      guard: this.guard,
      ledger: this.ledger,
      journal: this.journal,
      replication: this.replication,
      sweep: () => this.sweep(),
    });
    this.metrics = createMetrics({
      usage: () => this.ledger.usage(Date.now()),
      activeLeases: () => this.ledger.leaseCount,
      role: () => this.roles.role,
      epoch: () => this.roles.epoch,
      lag: () => this.replication.lag(),
      peerLastSeenSeconds: () => this.replication.peerLastSeenSeconds(),
      licenceValid: () => this.licence.valid,
      serving: () => this.guard.right(),
    });
    this.licence = new LicenceWatcher({
      config: this.config,
      log: this.log,
      reloads: this.metrics.licenceReloads,
      onLoaded: (licence) => this.ledger.setFeatures(licence.features),
    });
    this.usage = new UsageRecorder(this.metrics, opts.usageLogger);
  }

  get role(): Role {
    return this.roles.role;
  }
  get epoch(): number {
    return this.roles.epoch;
  }
  get seq(): number {
    return this.ledger.seq;
  }

  private now(): number {
    return performance.now();
  }

  /** Load the journal and the licence; every member starts as standby. */
  start(): void {
    const loaded = this.journal.load();
    this.roles.recovered(loaded.epoch);
    this.log.info(
      {
        seq: this.ledger.seq,
        epoch: this.roles.epoch,
        leases: this.ledger.leaseCount,
        skipped: loaded.skipped,
      },
      'state loaded; starting as standby',
    );
    this.licence.start();
    const sweep = setInterval(() => this.sweep(), this.config.sweepIntervalMs);
    sweep.unref();
    this.timers.push(sweep);
    if (this.config.peerUrl) {
      const mon = setInterval(() => void this.roles.watchPeer(), 1000);
      mon.unref();
      this.timers.push(mon);
      this.replication.startFollower();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.licence.stop();
    this.roles.close();
    await this.replication.closeFollower();
    this.guard.close();
    this.replication.closeSource();
    this.journal.close();
  }

  /** Load the licence file; a refused file leaves the last good one in force. */
  reloadLicence(why: string): { ok: boolean; message: string } {
    return this.licence.reload(why);
  }

  licenceValid(): boolean {
    return this.licence.valid;
  }

  // ------------------------------------------------------------------------- leases (active)

  private notActive(): Denial {
    return {
      ok: false,
      code: 'NOT_ACTIVE',
      message: this.roles.activeUrl
        ? `this member is standby; the active member is ${this.roles.activeUrl}`
        : 'this member is standby and does not know the active member',
      entries: [],
    };
  }

  /** What a status read that waits for the peer's silence polls (peer-silence.ts). */
  readonly silenceSource = {
    role: () => this.roles.role,
    peerLastSeenSeconds: () => this.replication.peerLastSeenSeconds(),
  };

  get activeAddress(): string | null {
    return this.roles.role === 'active' ? this.config.advertiseUrl : this.roles.activeUrl;
  }

  /** The peer's client address when it last said it is active (a refused client may try it). */
  get otherActiveAddress(): string | null {
    const url = this.roles.activeUrl;
    return url !== this.config.advertiseUrl ? url : null;
  }

  /**
   * Persist and replicate the entries of a change, then wait until it may be acknowledged (R4):
   * resolves with the refusal when it may not. A change without entries (an existing lease)
   * waits for everything before it, since the client is told about that state.
   */
  private async commit(entries: LogEntry[]): Promise<Refusal | undefined> {
    const durable = this.journal.persist(entries);
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
    if (this.roles.role !== 'active') return this.notActive();
    const v = await this.guard.whenServing();
    if (this.roles.role !== 'active') return this.notActive();
    return v.ok ? undefined : this.noQuorum(v);
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
    if (this.roles.role !== 'active') return this.notActive();
    if (!this.licence.verified)
      return {
        ok: false,
        code: 'UNKNOWN_FEATURE',
        message: `no valid licence is loaded: ${this.licence.message}`,
        entries: [],
      };
    const r = await this.change(() => this.ledger.checkout(req, this.now(), Date.now()));
    if (r.ok || (r.code !== 'NO_QUORUM' && r.code !== 'NOT_ACTIVE')) this.usage.checkout(req, r);
    return r;
  }

  renew(id: string, clientId: string): Promise<Granted | Denial> {
    return this.change(() => this.ledger.renew(id, clientId, this.now()));
  }

  async release(id: string, clientId: string): Promise<Released | Denial> {
    const r = await this.change(() => this.ledger.release(id, clientId, this.now()));
    if (r.ok) this.usage.release(clientId, id, r.lease);
    return r;
  }

  revoke(id: string): Promise<Released | Denial> {
    return this.change(() => this.ledger.revoke(id, this.now()));
  }

  recordDenial(feature: string, code: string): void {
    this.usage.denial(feature, code);
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
    if (this.roles.role !== 'active') return;
    const entries = this.ledger.sweep(this.now());
    if (entries.length > 0) void this.journal.persist(entries);
  }

  // ------------------------------------------------------------------------- roles

  promote(epoch: number, force: boolean, promotion: Promotion = {}): Promise<RoleResult> {
    return this.roles.promote(epoch, force, promotion);
  }

  demote(epoch: number): Promise<RoleResult> {
    return this.roles.demote(epoch);
  }

  /** R3: the operator's grant to serve alone. */
  grant(g: { epoch: number; anchor: number; ms: number }): { ok: true } | AdminRefusal {
    return this.roles.grant(g);
  }

  // ------------------------------------------------------------------------- replication source

  snapshotForPeer(): SnapshotResponse | AdminRefusal {
    return this.replication.snapshotForPeer();
  }

  entriesForPeer(
    q: EntriesQuery,
    respond: (json: string) => void,
  ): AdminRefusal | { ok: true; cancel: () => void } {
    return this.replication.entriesForPeer(q, respond);
  }

  streamForPeer(q: StreamQuery, sink: StreamSink): AdminRefusal | OpenStream {
    return this.replication.streamForPeer(q, sink);
  }

  // ------------------------------------------------------------------------- status

  private statusSources(): StatusSources {
    return {
      config: this.config,
      role: this.roles.role,
      epoch: this.roles.epoch,
      licence: this.licence,
      replication: this.replication,
      guard: this.guard,
      ledger: this.ledger,
    };
  }

  replicationState(): StatusJson['replication']['state'] {
    return this.replication.state();
  }

  /** Ready: it can serve licences in its role (a standby that could not serve once promoted is not). */
  ready(): { ready: boolean; reason: string } {
    return readiness(this.statusSources());
  }

  status(): StatusJson {
    return statusReport(this.statusSources());
  }
}
