// The solo grants the prober sends a pair's live member apart from its health checks (serving.ts;
// R3 and R6 of docs/reliability.md), and until when those it sent may still be valid.
import type { Member } from '../api/pair.ts';
import { sendGrant } from './member-client.ts';
import { answered, authOf, type MemberProbeState, type ProbeTarget } from './probe-check.ts';
import { GRANT_EVERY_MS, grantBindsUntil } from './serving.ts';

/** Solo grants to send a pair's live member every GRANT_EVERY_MS, apart from its health checks (serving.ts). */
export interface SoloGrant {
  member: Member;
  epoch: number;
  ms: number;
}

/** What the grants read and keep of the prober's entry for one member. */
export interface GrantedEntry {
  target: ProbeTarget;
  state: MemberProbeState;
  inFlight: boolean;
  /** a solo grant renewal between health checks (not a health check: no streak counts) */
  nextGrantAt?: number;
  grantInFlight?: boolean;
  /** the highest answer a grant was anchored at (an end of the grants must name one as late) */
  lastGrantAnchor?: number;
}

export interface GrantContext {
  /** the prober's current entry for the member (a new pod replaces it) */
  entry(pairKey: string, member: Member): GrantedEntry | undefined;
  now(): number;
  isLeader?: (() => boolean) | undefined;
}

export class SoloGrants {
  private readonly ctx: GrantContext;
  private readonly grants = new Map<string, SoloGrant>();
  /** per pair: until when a grant this process sent may still be valid (operator clock) */
  private readonly bindUntil = new Map<string, number>();
  /** pairs whose grants this process ended (R6): a predecessor's no longer bind either */
  private readonly ended = new Set<string>();
  /** when this process started probing (became leader): a predecessor's grants are counted from it */
  private startedAt = -Infinity;

  constructor(ctx: GrantContext) {
    this.ctx = ctx;
  }

  started(at: number): void {
    this.startedAt = at;
  }

  /**
   * Send (or stop sending) solo grants to a pair's live member. The caller sets a grant only
   * after status.servingAlone is written (R3 of docs/reliability.md); the first goes out now.
   */
  set(pairKey: string, grant: SoloGrant | undefined): void {
    if (!grant) {
      this.grants.delete(pairKey);
      return;
    }
    const prev = this.grants.get(pairKey);
    this.grants.set(pairKey, grant);
    if (prev?.member !== grant.member || prev.epoch !== grant.epoch) {
      const e = this.ctx.entry(pairKey, grant.member);
      if (e) e.nextGrantAt = this.ctx.now();
    }
  }

  /**
   * Until when a solo grant sent to the pair may still be valid, by this process's clock: its
   * own grants' bounds, and, when `inherited` (the pair was serving alone when this process
   * first saw it), a predecessor's, counted from when this process started probing.
   */
  bindsUntil(pairKey: string, grantMs: number, inherited: boolean): number {
    const own = this.bindUntil.get(pairKey) ?? -Infinity;
    // Ended grants void a predecessor's too (theirs were anchored at earlier answers).
    return inherited && !this.ended.has(pairKey)
      ? Math.max(own, grantBindsUntil(this.startedAt, grantMs))
      : own;
  }

  /**
   * R6: tell the member its grants are over, anchored at the latest answer any grant named; once
   * it has answered, no grant sent before binds, and what still binds is only that the decision
   * reads a report sent after the end (the end's own answer is one). False when it could not be
   * done now (still granting, no answer to anchor at, not the leader, no answer back).
   */
  async end(pairKey: string, member: Member, epoch: number): Promise<boolean> {
    const e = this.ctx.entry(pairKey, member);
    const t = e?.target;
    const n = Math.max(e?.state.anchor?.n ?? 0, e?.lastGrantAnchor ?? 0);
    if (this.grants.has(pairKey) || !e || !t?.statusUrl || n === 0) return false;
    if (this.ctx.isLeader && !this.ctx.isLeader()) return false;
    const sentAt = this.ctx.now();
    const { accepted, status } = await sendGrant(t.statusUrl, authOf(t), t.timeoutMs, {
      epoch,
      anchor: n,
      ms: 0,
    });
    if (!accepted || !status || this.ctx.entry(pairKey, member) !== e || this.grants.has(pairKey))
      return false;
    e.state = { ...e.state, ...answered(e.state, status, sentAt, this.ctx.now()) };
    this.bindUntil.set(pairKey, sentAt);
    this.ended.add(pairKey);
    return true;
  }

  remove(pairKey: string): void {
    this.grants.delete(pairKey);
    this.bindUntil.delete(pairKey);
    this.ended.delete(pairKey);
  }

  /**
   * Solo grants are renewed every GRANT_EVERY_MS, whatever the health-check period, so that a
   * grant is short (the standby becomes promotable soon after it has resynced). A renewal is not
   * a health check: it does not count towards the thresholds, only refreshes the anchor and report.
   */
  renew(now: number): void {
    for (const [pairKey, g] of this.grants) {
      const e = this.ctx.entry(pairKey, g.member);
      if (!e || e.inFlight || e.grantInFlight || (e.nextGrantAt ?? -Infinity) > now) continue;
      const grant = this.grantFor(e);
      const t = e.target;
      if (!grant || !t.statusUrl) continue;
      e.nextGrantAt = now + GRANT_EVERY_MS;
      e.grantInFlight = true;
      void sendGrant(t.statusUrl, authOf(t), t.timeoutMs, grant)
        .then(({ status }) => {
          if (this.ctx.entry(t.pairKey, t.member) !== e || !status) return;
          e.state = { ...e.state, ...answered(e.state, status, now, this.ctx.now()) };
        })
        .finally(() => (e.grantInFlight = false));
    }
  }

  /** The grant to send now, if any; records its bound before it is sent. */
  private grantFor(e: GrantedEntry): { epoch: number; anchor: number; ms: number } | undefined {
    const g = this.grants.get(e.target.pairKey);
    if (!g || g.member !== e.target.member) return undefined;
    const a = this.anchored(e, g.ms);
    return a && { epoch: g.epoch, ...a };
  }

  /**
   * A grant of `ms` for a promotion of `member` (serving alone from its first moment), anchored
   * at its last status answer; undefined when there is no recent one.
   */
  promotionGrant(pairKey: string, member: Member, ms: number): { anchor: number; ms: number } | undefined {
    const e = this.ctx.entry(pairKey, member);
    return e ? this.anchored(e, ms) : undefined;
  }

  private anchored(e: GrantedEntry, ms: number): { anchor: number; ms: number } | undefined {
    const anchor = e.state.anchor;
    if (!anchor || !e.target.statusUrl) return undefined;
    if (this.ctx.isLeader && !this.ctx.isLeader()) return undefined;
    // An old anchor buys little of the grant: check first, and grant with the next check.
    if (this.ctx.now() - anchor.receivedAt > ms / 2) return undefined;
    const key = e.target.pairKey;
    e.lastGrantAnchor = Math.max(e.lastGrantAnchor ?? 0, anchor.n);
    this.bindUntil.set(
      key,
      Math.max(this.bindUntil.get(key) ?? -Infinity, grantBindsUntil(anchor.receivedAt, ms)),
    );
    return { anchor: anchor.n, ms };
  }
}
