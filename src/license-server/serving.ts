// The member's serving guard: holds the rights of serving-rights.ts for the current role, and
// makes every lease change wait until it may be acknowledged (R4) or refuses it after the sync
// timeout. The replication source reports acknowledgements to it; the admin API brings grants.
import { afterPendingIo } from './after-pending-io.ts';
import {
  AnchorBook,
  becameActive,
  grants,
  granted,
  mayAcknowledge,
  peerAcked,
  promised,
  promotionWaitMs,
  rightAt,
  promiseLengthMs,
  standbyStarted,
  withoutPeerMs,
} from './serving-rights.ts';
import type {
  AckVerdict,
  ActiveRights,
  GrantRefusal,
  Right,
  RightsPolicy,
  StandbyPromise,
} from './serving-rights.ts';

export type Refusal = Extract<AckVerdict, { ok: false }>;

type Waiter = {
  /** 0: wait for any right (before a change is made); otherwise the change's last seq */
  seq: number;
  deadline: number;
  resolve: (v: AckVerdict) => void;
};

export type GuardOptions = RightsPolicy & {
  mode: 'sync' | 'async';
  syncTimeoutMs: number;
  now?: () => number;
  /** called when a change could not be acknowledged in time (the standby is behind) */
  onTimeout?: (v: Refusal) => void;
};

/** What the member reports about its rights on /v1/status. */
export type ServingJson = {
  right: Right | 'standby';
  /** may acknowledge a change right now (in sync mode also needs the standby's ack of it) */
  mayGrant: boolean;
  /** seconds left of the standby's promise (active) */
  peerRightSeconds: number | null;
  /** seconds left of the operator's solo grant (active) */
  aloneSeconds: number | null;
  /** seconds the active has been without the standby's promise */
  withoutPeerSeconds: number | null;
  /** seconds a promotion of this standby would still wait for its promise to its active */
  promiseSeconds: number | null;
  /** names this answer; a solo grant is counted from when this member sent it */
  anchor: number;
  /** (active) the standby's acknowledged position */
  ackedSeq: number | null;
  /** (active) the standby has resynced once it has acknowledged this seq: the last change acknowledged alone, or the promotion */
  aloneSeq: number | null;
};

export class ServingGuard {
  private readonly opts: GuardOptions;
  private readonly now: () => number;
  private rights: ActiveRights | undefined;
  private promise: StandbyPromise;
  private readonly statusAnchors = new AnchorBook(1024);
  private ackedSeq = 0;
  /** the highest seq acknowledged under a solo grant, or the promotion's (what the standby must have) */
  private aloneSeq = 0;
  private waiters: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;

  constructor(opts: GuardOptions) {
    this.opts = opts;
    this.now = opts.now ?? (() => performance.now());
    this.promise = standbyStarted(this.now(), opts);
  }

  get paired(): boolean {
    return this.opts.paired;
  }

  /**
   * Active in `epoch` from entry `seq` on. Nothing counts as acknowledged by the standby yet: it
   * may have a forked history. Everything up to `seq` may hold leases acknowledged alone before
   * (by this member in an earlier term): the standby is resynced once it has acknowledged it.
   */
  becomeActive(epoch: number, seq: number): void {
    this.rights = becameActive(epoch, this.now());
    this.ackedSeq = 0;
    this.aloneSeq = seq;
  }

  /** Demoted, stepped down or closing: every waiting change is refused. */
  becomeStandby(): void {
    this.rights = undefined;
    this.settleAll({ ok: false, reason: 'NO_RIGHT', message: 'this member stepped down' });
  }

  /** R2: the standby acknowledged everything up to `seq`, answering a message sent at `anchorAt`. */
  acked(seq: number, anchorAt: number | undefined): void {
    if (!this.rights) return;
    if (seq > this.ackedSeq) this.ackedSeq = seq;
    if (anchorAt !== undefined) this.rights = peerAcked(this.rights, anchorAt, this.opts);
    this.wake();
  }

  /** R3: a solo grant from the operator. */
  grant(g: { epoch: number; anchor: number; ms: number }): { ok: true } | GrantRefusal {
    if (!this.rights) return { ok: false, code: 'STALE_EPOCH', message: 'this member is not active' };
    const r = granted(this.rights, {
      epoch: g.epoch,
      anchorAt: this.statusAnchors.sentAt(g.anchor),
      ms: g.ms,
    });
    if (!r.ok) return r;
    this.rights = r.rights;
    this.wake();
    return { ok: true };
  }

  /** R1: this standby sent an acknowledgement to its active; `announcedMs`: that active's P, if it said. */
  promisedPeer(announcedMs?: number): void {
    this.promise = promised(this.promise, this.now(), promiseLengthMs(this.opts.peerPromiseMs, announcedMs));
  }

  /** R5: how long a promotion must still wait (0 once the peer is known to have stepped down). */
  promotionWaitMs(peerStepped: boolean): number {
    return promotionWaitMs(this.promise, this.now(), peerStepped);
  }

  right(): Right | 'standby' {
    return this.rights ? rightAt(this.rights, this.now(), this.opts) : 'standby';
  }

  /**
   * Wait until the member holds a right, before it makes a change (a member cut off from its
   * standby and the operator then changes nothing). Resolves with the refusal after the sync timeout.
   */
  whenServing(): Promise<AckVerdict> {
    return this.wait(0);
  }

  /** R4: wait until the change ending at `seq` may be acknowledged, or refuse it after the sync timeout. */
  acknowledge(seq: number): Promise<AckVerdict> {
    return this.wait(seq);
  }

  /** R4 for the change ending at `seq`; a change let through alone is what the standby must then catch up with. */
  private verdict(seq: number, now: number): AckVerdict {
    if (!this.rights) return { ok: false, reason: 'NO_RIGHT', message: 'this member is not active' };
    const v = mayAcknowledge(this.rights, now, this.opts, {
      mode: seq === 0 ? 'async' : this.opts.mode,
      seq,
      ackedSeq: this.ackedSeq,
    });
    if (v.ok && v.by === 'alone' && seq > this.aloneSeq) this.aloneSeq = seq;
    return v;
  }

  private wait(seq: number): Promise<AckVerdict> {
    const now = this.now();
    const v = this.verdict(seq, now);
    if (v.ok || !this.rights) return Promise.resolve(v);
    return new Promise((resolve) => {
      const w: Waiter = { seq, deadline: now + this.opts.syncTimeoutMs, resolve };
      // in time order: the first waiter has the earliest deadline
      this.waiters.push(w);
      this.arm();
    });
  }

  /** Settle every waiter that may go now, and refuse those past their deadline. */
  private wake(): void {
    if (this.waiters.length === 0) return;
    const now = this.now();
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      const v = this.verdict(w.seq, now);
      if (v.ok) w.resolve(v);
      else if (now >= w.deadline) {
        w.resolve(v);
        this.opts.onTimeout?.(v);
      } else still.push(w);
    }
    this.waiters = still;
    this.arm();
  }

  private arm(): void {
    const first = this.waiters[0];
    if (!first) {
      this.disarm();
      return;
    }
    // The earliest deadline is the first waiter's (they are added in time order).
    const at = first.deadline;
    if (this.timer && at >= this.timerAt) return;
    this.disarm();
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Infinity;
        // The standby's acknowledgement may be waiting unread after our own stall.
        afterPendingIo(() => this.wake());
      },
      Math.max(0, Math.ceil(at - this.now())),
    );
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  private settleAll(v: AckVerdict): void {
    const w = this.waiters;
    this.waiters = [];
    this.disarm();
    for (const x of w) x.resolve(v);
  }

  close(): void {
    this.becomeStandby();
  }

  status(): ServingJson {
    const now = this.now();
    const anchor = this.statusAnchors.issue(now);
    const secs = (ms: number): number => Math.round(ms) / 1000;
    const r = this.rights;
    const right = this.right();
    return {
      right,
      mayGrant: grants(right),
      peerRightSeconds: r && now < r.peerUntil ? secs(r.peerUntil - now) : r ? 0 : null,
      aloneSeconds: r && now < r.aloneUntil ? secs(r.aloneUntil - now) : r ? 0 : null,
      withoutPeerSeconds: r && this.opts.paired ? secs(withoutPeerMs(r, now)) : null,
      promiseSeconds: r ? null : secs(this.promotionWaitMs(false)),
      anchor,
      ackedSeq: r ? this.ackedSeq : null,
      aloneSeq: r ? this.aloneSeq : null,
    };
  }
}
