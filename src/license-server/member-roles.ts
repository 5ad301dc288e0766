// A member's role and epoch, and every change of them: promotion (refused when it could leave two
// members active in one epoch, and only after the last promise to the peer has run out, R5),
// demotion, stepping down when the peer knows a higher epoch, the operator's solo grant (R3) and
// watching the peer. Role changes are serialised.
import type { Logger } from 'pino';
import { refuse } from './admin-answers.ts';
import type { AdminRefusal, Promotion, Role, RoleResult } from './admin-answers.ts';
import type { ServerConfig } from './config.ts';
import type { Ledger } from './ledger.ts';
import type { LedgerJournal } from './ledger-journal.ts';
import type { MemberReplication } from './member-replication.ts';
import type { StatusJson } from './protocol.ts';
import { peerGet, peerPost, sleep } from './peer-client.ts';
import type { ServingGuard } from './serving.ts';

export type MemberRolesOptions = {
  config: Pick<ServerConfig, 'peerUrl'>;
  log: Logger;
  /** the admin token presented to the peer */
  peerToken: () => string;
  guard: ServingGuard;
  ledger: Ledger;
  journal: Pick<LedgerJournal, 'persist' | 'saveEpoch'>;
  replication: MemberReplication;
  /** expire the leases that are due (a no-op unless active) */
  sweep: () => void;
};

export class MemberRoles {
  private readonly opts: MemberRolesOptions;
  private roleValue: Role = 'standby';
  private epochValue = 0;
  private activeUrlValue: string | null = null;
  private roleChange: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(opts: MemberRolesOptions) {
    this.opts = opts;
  }

  get role(): Role {
    return this.roleValue;
  }
  get epoch(): number {
    return this.epochValue;
  }
  /** The client address the peer gave when it last said it is active. */
  get activeUrl(): string | null {
    return this.activeUrlValue;
  }

  /** At start: the highest epoch this member has seen, from its state on disk. */
  recovered(epoch: number): void {
    this.epochValue = epoch;
  }

  /** Shutdown: the peer is no longer watched. */
  close(): void {
    this.closed = true;
  }

  private now(): number {
    return performance.now();
  }

  /** Serialise role changes: promote/demote/step-down never interleave. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.roleChange.then(fn, fn);
    this.roleChange = next.catch(() => undefined);
    return next;
  }

  promote(epoch: number, force: boolean, promotion: Promotion = {}): Promise<RoleResult> {
    const { config, log, guard, ledger, journal, replication } = this.opts;
    const { grant, peerExited = false } = promotion;
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
      if (!force && config.peerUrl) {
        try {
          const peer = await peerGet<StatusJson>(`${config.peerUrl}/v1/status`, this.opts.peerToken(), 1000);
          this.sawPeer(peer.role, peer.epoch, Date.parse(peer.time), peer.advertiseUrl);
          if (peer.role === 'active' && peer.epoch >= epoch)
            return refuse(409, 'PEER_ACTIVE', `the peer is active with epoch ${peer.epoch} ≥ ${epoch}`);
          peerStepped = peer.role === 'standby';
        } catch (err) {
          // An unreachable peer cannot accept writes from our clients' point of view for long:
          // it steps down when it sees our higher epoch.
          log.warn({ error: (err as Error).message }, 'promote: peer status unavailable');
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
      if (epoch <= ledger.epoch)
        return refuse(409, 'STALE_EPOCH', `epoch ${epoch} was already begun (journal epoch ${ledger.epoch})`);
      if (!force && this.roleValue === 'standby') {
        const known = replication.knownActiveSeq;
        if (known !== undefined && ledger.seq < known)
          return refuse(
            409,
            'NOT_CAUGHT_UP',
            `this member has seq ${ledger.seq}, the last active it followed had ${known}`,
          );
      }
      await replication.stopFollower();
      // R5: no acknowledgement goes out any more; become active once the last one's promise
      // has expired, or as soon as the peer confirms it no longer grants, or at once when the
      // operator saw the process the promise was made to exit.
      const waited = await this.waitOutPromise(epoch, peerStepped || peerExited);
      this.setEpoch(epoch);
      const t = this.now();
      replication.renewSource(ledger.seq, ledger.epoch);
      const entry = ledger.beginEpoch(epoch, t);
      guard.becomeActive(epoch, entry.seq);
      if (grant) {
        const g = guard.grant({ epoch, ...grant });
        if (!g.ok) log.warn({ epoch, code: g.code }, `promote: solo grant refused: ${g.message}`);
      }
      this.roleValue = 'active';
      await journal.persist([entry]);
      // Leases that expired while nobody was active go now.
      this.opts.sweep();
      log.warn({ epoch, seq: ledger.seq, force, peerExited, waitedMs: waited }, 'promoted to active');
      return { ok: true, role: 'active', epoch, waitedMs: waited };
    });
  }

  /**
   * R5: wait until this member's last promise to its peer has expired, demoting the peer
   * meanwhile (with the new epoch) so that a reachable peer ends the wait at once. Returns the
   * time waited, ms.
   */
  private async waitOutPromise(epoch: number, peerStepped: boolean): Promise<number> {
    const { config, guard } = this.opts;
    const wait = guard.promotionWaitMs(peerStepped);
    if (wait === 0 || !config.peerUrl) return 0;
    const t0 = this.now();
    const fenced = await peerPost<{ role: Role; epoch: number }>(
      `${config.peerUrl}/v1/admin/demote`,
      this.opts.peerToken(),
      { epoch },
      wait,
    ).then(
      (r) => r.role === 'standby',
      () => false,
    );
    const rest = guard.promotionWaitMs(fenced);
    if (rest > 0) await sleep(rest);
    return Math.round(this.now() - t0);
  }

  /** R3: the operator's grant to serve alone. */
  grant(g: { epoch: number; anchor: number; ms: number }): { ok: true } | AdminRefusal {
    if (this.roleValue !== 'active') return refuse(409, 'NOT_ACTIVE', 'this member is not active');
    const r = this.opts.guard.grant(g);
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
    const { guard, replication, log, ledger } = this.opts;
    this.roleValue = 'standby';
    guard.becomeStandby();
    replication.closeSource();
    log.warn({ epoch: this.epochValue, seq: ledger.seq }, `now standby: ${reason}`);
    replication.startFollower();
  }

  private setEpoch(epoch: number): void {
    if (epoch === this.epochValue) return;
    this.epochValue = epoch;
    this.opts.journal.saveEpoch(epoch);
  }

  /** Record what the peer told us; step down when it knows a higher epoch. */
  sawPeer(role: Role, epoch: number, wall: number, advertiseUrl: string | null): void {
    this.opts.replication.heardFromPeer(wall);
    if (role === 'active') this.activeUrlValue = advertiseUrl;
    // The peer stepped down: it is no longer where a refused client should go.
    else if (advertiseUrl !== null && this.activeUrlValue === advertiseUrl) this.activeUrlValue = null;
    if (epoch > this.epochValue) {
      const wasActive = this.roleValue === 'active';
      this.setEpoch(epoch);
      if (wasActive) this.becomeStandby(`the peer has the higher epoch ${epoch}`);
    }
  }

  /** The standby told us its epoch: a higher one makes this member step down. */
  standbyEpoch(epoch: number | undefined): void {
    if (epoch !== undefined && epoch > this.epochValue)
      void this.serial(async () => this.sawPeer('standby', epoch, NaN, null));
  }

  /** Ask the peer for its status (every second): it may know a higher epoch, or who is active. */
  async watchPeer(): Promise<void> {
    const { peerUrl } = this.opts.config;
    if (!peerUrl || this.closed) return;
    try {
      const peer = await peerGet<StatusJson>(`${peerUrl}/v1/status`, this.opts.peerToken(), 900);
      void this.serial(async () =>
        this.sawPeer(peer.role, peer.epoch, Date.parse(peer.time), peer.advertiseUrl),
      );
    } catch {
      // reported through peerLastSeenSeconds
    }
  }
}
