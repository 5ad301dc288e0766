// The serving rules of a member (docs/reliability.md, "Serving rights"): when an active member
// may acknowledge a lease change, and when a standby may become active. Pure: no I/O, no clock of
// its own; every time is an argument (ms on the member's monotonic clock).
//
// A right is a time-bounded promise made by another party, counted by the receiver from a
// moment at or before the promiser made it (the receiver's own send time of the message the
// promise answers), and shortened by the drift allowance: a promise that arrives late is worth
// less, never more.

/** Clock-rate drift allowed between any two parties (5 %: far above any working oscillator). */
export const DRIFT_RATIO = 0.05;
/** Added to every bound the promiser keeps, and taken off every right the receiver uses. */
export const MARGIN_MS = 25;

/** Until when a promise of `lengthMs`, anchored at `anchorAt` on the receiver's clock, may be used. */
export function rightUntil(anchorAt: number, lengthMs: number): number {
  return anchorAt + lengthMs * (1 - DRIFT_RATIO) - MARGIN_MS;
}

/**
 * Until when the promiser must treat a promise as binding, counted on its own clock from a
 * moment at or after the receiver's anchor (e.g. when it received the answer it anchors on).
 */
export function bindsUntil(anchorSeenAt: number, lengthMs: number): number {
  return anchorSeenAt + lengthMs * (1 + DRIFT_RATIO) + MARGIN_MS;
}

// ------------------------------------------------------------------------------------ anchors

/**
 * Numbered send times of recent messages (heartbeats, status answers): a promise names the
 * number of the message it answers, and the receiver looks up when it sent that message.
 */
export class AnchorBook {
  private readonly times: number[];
  private readonly size: number;
  private next = 1;

  constructor(size = 64) {
    this.size = size;
    this.times = new Array<number>(size).fill(Number.NaN);
  }

  /** Number a message sent at `now`. */
  issue(now: number): number {
    const n = this.next++;
    this.times[n % this.size] = now;
    return n;
  }

  /** When message `n` was sent; undefined when unknown or too old. */
  sentAt(n: number): number | undefined {
    if (!Number.isInteger(n) || n < 1 || n >= this.next || n <= this.next - 1 - this.size) return undefined;
    const t = this.times[n % this.size] as number;
    return Number.isNaN(t) ? undefined : t;
  }
}

// ------------------------------------------------------------------------------ the active side

export type Right = 'unpaired' | 'peer' | 'alone' | 'none';

export interface ActiveRights {
  /** the epoch the rights belong to (the member's epoch when it became active) */
  epoch: number;
  /** R2: until when the standby's promise covers this member */
  peerUntil: number;
  /** R3: until when the operator's solo grant covers this member */
  aloneUntil: number;
  /** R6: the operator ended its grants at the answer sent then: a grant anchored earlier is void */
  grantsEndedAt?: number;
  /** when this member became active */
  activeSince: number;
}

export interface RightsPolicy {
  /** false: no peer is configured (a single server), which always holds the right */
  paired: boolean;
  /** P: how long a standby's acknowledgement promises it stays standby */
  peerPromiseMs: number;
}

export function becameActive(epoch: number, now: number): ActiveRights {
  return { epoch, peerUntil: -Infinity, aloneUntil: -Infinity, activeSince: now };
}

/** R2: the standby acknowledged a message this member sent at `anchorAt`. */
export function peerAcked(r: ActiveRights, anchorAt: number, p: RightsPolicy): ActiveRights {
  const until = rightUntil(anchorAt, p.peerPromiseMs);
  return until > r.peerUntil ? { ...r, peerUntil: until } : r;
}

export type GrantRefusal = { ok: false; code: 'STALE_EPOCH' | 'UNKNOWN_ANCHOR'; message: string };

/**
 * R3: a solo grant from the operator for `epoch`, anchored at this member's answer sent at
 * `anchorAt`. A grant of 0 ms ends the operator's grants (R6): this member holds none from now
 * on, and a grant still on its way, anchored at that answer or before, extends nothing — so the
 * operator, once it has the answer to the end, need not wait its grants out.
 */
export function granted(
  r: ActiveRights,
  g: { epoch: number; anchorAt: number | undefined; ms: number },
): { ok: true; rights: ActiveRights } | GrantRefusal {
  if (g.epoch !== r.epoch)
    return {
      ok: false,
      code: 'STALE_EPOCH',
      message: `the grant is for epoch ${g.epoch}; this member is active in epoch ${r.epoch}`,
    };
  if (g.anchorAt === undefined)
    return {
      ok: false,
      code: 'UNKNOWN_ANCHOR',
      message: 'the grant names a status answer this member does not know',
    };
  if (g.ms === 0) return { ok: true, rights: { ...r, aloneUntil: -Infinity, grantsEndedAt: g.anchorAt } };
  if (r.grantsEndedAt !== undefined && g.anchorAt <= r.grantsEndedAt) return { ok: true, rights: r };
  const until = rightUntil(g.anchorAt, g.ms);
  return { ok: true, rights: until > r.aloneUntil ? { ...r, aloneUntil: until } : r };
}

/** A member holding this right may acknowledge lease changes. */
export function grants(right: Right | 'standby'): boolean {
  return right === 'unpaired' || right === 'peer' || right === 'alone';
}

/** Which right this member holds at `now` (a solo grant is named before the peer's). */
export function rightAt(r: ActiveRights, now: number, p: RightsPolicy): Right {
  if (!p.paired) return 'unpaired';
  if (now < r.aloneUntil) return 'alone';
  if (now < r.peerUntil) return 'peer';
  return 'none';
}

/** How long the member has been without a peer right (0 while it holds one), ms. */
export function withoutPeerMs(r: ActiveRights, now: number): number {
  if (now < r.peerUntil) return 0;
  return Math.max(0, now - Math.max(r.peerUntil, r.activeSince));
}

export type AckVerdict =
  | { ok: true; by: 'unpaired' | 'peer' | 'alone' }
  | { ok: false; reason: 'NO_RIGHT' | 'NOT_REPLICATED'; message: string };

/**
 * R4: may the member acknowledge a change whose last entry is `seq` (the member's last seq for
 * an answer that changed nothing), with the standby having acknowledged up to `ackedSeq`?
 */
export function mayAcknowledge(
  r: ActiveRights,
  now: number,
  p: RightsPolicy,
  q: { mode: 'sync' | 'async'; seq: number; ackedSeq: number },
): AckVerdict {
  const right = rightAt(r, now, p);
  if (right === 'unpaired' || right === 'alone') return { ok: true, by: right };
  if (right === 'none')
    return {
      ok: false,
      reason: 'NO_RIGHT',
      message:
        'this member cannot prove it may grant: its standby has not acknowledged recently and the operator has not granted it to serve alone',
    };
  if (q.mode === 'async' || q.ackedSeq >= q.seq) return { ok: true, by: 'peer' };
  return {
    ok: false,
    reason: 'NOT_REPLICATED',
    message: `the standby has not acknowledged entry ${q.seq} (it has ${q.ackedSeq}) and the operator has not granted this member to serve alone`,
  };
}

// ----------------------------------------------------------------------------- the standby side

/** R1: what a standby has promised its active; its start counts as a promise (made before a crash). */
export interface StandbyPromise {
  bindsUntil: number;
}

/** P when LS_PEER_PROMISE_MS is not set (and what the operator gives a pair with a timeout of 1 s or more). */
export const DEFAULT_PEER_PROMISE_MS = 1000;

/**
 * The promise an active that does not announce its own length counts on: every member before the
 * announcement (`p` in heartbeats and answers) used the default.
 */
export const UNANNOUNCED_PROMISE_MS = DEFAULT_PEER_PROMISE_MS;

/**
 * How long an acknowledgement promises: this member's own P, and never less than the P the active
 * it follows counts its right with (R2 uses the active's own P). So members configured with
 * different P — a pair whose health-check timeout changes is rolled out one member at a time —
 * stay safe: the standby promises the longer of the two, and only a pair whose members agree on
 * a short P promotes sooner. `announced`: the active's P as its last heartbeat or answer said.
 */
export function promiseLengthMs(ownMs: number, announced: number | undefined): number {
  const theirs =
    typeof announced === 'number' && Number.isFinite(announced) && announced > 0
      ? announced
      : UNANNOUNCED_PROMISE_MS;
  return Math.max(ownMs, theirs);
}

/**
 * A standby that starts keeps what its previous process may have promised, to an active whose P
 * it does not know yet: the longer of its own P and the unannounced one.
 */
export function standbyStarted(now: number, p: RightsPolicy): StandbyPromise {
  return { bindsUntil: now + promiseLengthMs(p.peerPromiseMs, undefined) };
}

/** The standby sent an acknowledgement at `now` that promises `lengthMs` (promiseLengthMs). */
export function promised(s: StandbyPromise, now: number, lengthMs: number): StandbyPromise {
  const until = now + lengthMs;
  return until > s.bindsUntil ? { bindsUntil: until } : s;
}

/**
 * R5: how long a standby told to become active must still wait. `peerStepped`: its peer
 * answered that it is a standby, or has an epoch at least the new one (it no longer grants).
 */
export function promotionWaitMs(s: StandbyPromise, now: number, peerStepped: boolean): number {
  if (peerStepped) return 0;
  return Math.max(0, Math.ceil(s.bindsUntil - now));
}
