// The operator's half of the serving rules (docs/reliability.md, R3 and R6): when the live member
// is granted to serve alone, and when its standby becomes promotable again. Pure: the clock and
// every observation are arguments; the shell writes `status.servingAlone` before it sends any
// grant, and renews grants to the live member every GRANT_EVERY_MS.
import type { Member } from '../api/pair.ts';
import { bindsUntil } from '../license-server/serving-rights.ts';

/** The live member has been without its standby's promise this long before it is granted to serve alone. */
export const ALONE_AFTER_SECONDS = 1;
/** While a resync is awaited, look again this often (what it waits for need not change a report's state). */
const RESYNC_RECHECK_MS = 1000;

/** `status.servingAlone`, with `since` in ms. */
export interface ServingAlone {
  member: Member;
  epoch: number;
  since: number;
}

/** What the reference server says about its rights (`/v1/status` → serving). */
export interface ServingReport {
  right: 'unpaired' | 'peer' | 'alone' | 'none' | 'standby';
  withoutPeerSeconds?: number;
  /** (active) the standby's acknowledged position */
  ackedSeq?: number;
  /** (active) what the standby must have acknowledged to count as resynced */
  aloneSeq?: number;
}

export interface ServingInput {
  protocol: 'reference' | 'none';
  /** the live member after the decision ('' = none) */
  live: Member | '';
  /** the decision moves the Service or promotes now: grants wait for the next reconcile */
  moving: boolean;
  /** the decision promotes this member now, and the other member has failed (it cannot follow) */
  promotingAlone?: Member;
  epoch: number;
  /** the live member is healthy and reports itself active in `epoch` */
  liveConfirmed: boolean;
  liveReplication?: 'in-sync' | 'catching-up' | 'disconnected' | 'none';
  liveServing?: ServingReport;
  /** when the health check that read the live member's report was sent, ms */
  liveReportSentAt?: number;
  /** the other member reports standby, in sync */
  standbyInSync: boolean;
  /**
   * The other member's pod is being deleted (a drain, an eviction, a rollout): it will stop
   * acknowledging soon, and its promise lapses about a second after its last acknowledgement.
   */
  standbyLeaving?: boolean;
  alone?: ServingAlone;
  /** until when a grant this operator (or the one before it) sent may still be valid, ms */
  grantsBindUntil: number;
  now: number;
}

export type ServingReason =
  | 'NotApplicable'
  | 'PromoteAlone'
  | 'Paired'
  | 'StartServingAlone'
  | 'StandbyLeaving'
  | 'ServingAlone'
  | 'LiveNotConfirmed'
  | 'WaitingOutGrants'
  | 'WaitingForResync'
  | 'Resynced';

export interface ServingDecision {
  /** the next `status.servingAlone` (undefined: remove it) */
  alone?: ServingAlone;
  /**
   * Send this member solo grants for `epoch`, every GRANT_EVERY_MS (after `alone` is written);
   * `withPromotion`: the first goes with the promotion itself.
   */
  grant?: { member: Member; epoch: number; withPromotion?: true };
  /**
   * End the grants (R6): tell this member, in `epoch`, that it holds none any more. Once it has
   * answered, no grant sent before binds (the member voids those still on their way), and the
   * wait is over without waiting the grants out.
   */
  endGrants?: { member: Member; epoch: number };
  reason: ServingReason;
  message: string;
  requeueAt?: number;
}

/** The live member needs a grant: it has been without its standby's promise, or its standby fell behind. */
export function needsAlone(
  replication: ServingInput['liveReplication'],
  serving: ServingReport | undefined,
): boolean {
  // A server without serving rights (an older one, or protocol none) is never granted.
  if (!serving || serving.right === 'unpaired' || serving.right === 'standby') return false;
  if ((serving.withoutPeerSeconds ?? 0) >= ALONE_AFTER_SECONDS) return true;
  return replication === 'catching-up';
}

/**
 * The serving table. Rows are checked top to bottom; the first that applies wins.
 *
 *  1. protocol none → nothing to grant (NotApplicable)
 *  2. a member is promoted now and the other has failed → mark the other, and promote with a
 *     grant so that the new active serves from its first moment (PromoteAlone)
 *  3. no live member, a move in progress, or the live member not confirmed active in the epoch →
 *     no grant; `servingAlone` stays as it is (LiveNotConfirmed)
 *  4. the live member needs a grant (needsAlone), or its standby's pod is being deleted:
 *     a. `servingAlone` names it → grant (ServingAlone; its epoch follows the live epoch)
 *     b. the standby is leaving → set `servingAlone` to it now, then grant, before the standby's
 *        last promise lapses: a planned removal refuses nothing (StandbyLeaving)
 *     c. otherwise → set `servingAlone` to it now, then grant (StartServingAlone)
 *  5. the live member is paired again and `servingAlone` is set:
 *     a. the standby does not report in sync, or has not acknowledged everything granted alone
 *        (ackedSeq < aloneSeq) → no grant, wait (WaitingForResync)
 *     b. a grant may still be valid, or the live member's report was read by a check sent before
 *        every grant had expired (it may predate the last change granted alone) → no grant, end
 *        the grants (the member's answer to the end is such a report), else wait (WaitingOutGrants)
 *     c. otherwise → remove `servingAlone`: the standby is promotable again (Resynced)
 *  6. otherwise → nothing (Paired)
 */
export function decideServing(i: ServingInput): ServingDecision {
  const keep = i.alone ? { alone: i.alone } : {};
  if (i.protocol !== 'reference')
    return { reason: 'NotApplicable', message: 'the server does not implement serving rights' };
  if (i.promotingAlone !== undefined && i.promotingAlone === i.live)
    return {
      alone: { member: i.live, epoch: i.epoch, since: i.now },
      grant: { member: i.live, epoch: i.epoch, withPromotion: true },
      reason: 'PromoteAlone',
      message: `the ${i.live} member is promoted to serve alone: the other member failed`,
    };
  if (i.live === '' || i.moving || !i.liveConfirmed)
    return {
      ...keep,
      reason: 'LiveNotConfirmed',
      message:
        i.live === ''
          ? 'no member is live'
          : `the ${i.live} member is not confirmed active in epoch ${i.epoch}`,
    };
  const live = i.live;
  // A leaving standby is marked while it still acknowledges: from then on it is not promotable
  // (it goes anyway), exactly as in any serving-alone episode, and its replacement must resync.
  const leaving =
    i.standbyLeaving === true && i.liveServing !== undefined && i.liveServing.right !== 'unpaired';
  if (leaving || needsAlone(i.liveReplication, i.liveServing)) {
    if (i.alone?.member === live)
      return {
        alone: i.alone.epoch === i.epoch ? i.alone : { ...i.alone, epoch: i.epoch },
        grant: { member: live, epoch: i.epoch },
        reason: 'ServingAlone',
        message: `the ${live} member serves alone; its standby is not promoted until it has resynced`,
      };
    if (leaving)
      return {
        alone: { member: live, epoch: i.epoch, since: i.now },
        grant: { member: live, epoch: i.epoch },
        reason: 'StandbyLeaving',
        message: `the ${live} member's standby is leaving (its pod is being deleted); granting the ${live} member to serve alone`,
      };
    return {
      alone: { member: live, epoch: i.epoch, since: i.now },
      grant: { member: live, epoch: i.epoch },
      reason: 'StartServingAlone',
      message: `the ${live} member lost its standby's acknowledgements; granting it to serve alone`,
    };
  }
  if (!i.alone) return { reason: 'Paired', message: `the ${live} member serves with its standby in sync` };
  const acked = i.liveServing?.ackedSeq;
  const needed = i.liveServing?.aloneSeq;
  if (!i.standbyInSync || acked === undefined || needed === undefined || acked < needed)
    return {
      ...keep,
      reason: 'WaitingForResync',
      message: `the ${live} member is paired again; waiting for its standby to acknowledge everything granted alone`,
      requeueAt: i.now + RESYNC_RECHECK_MS,
    };
  if (i.now < i.grantsBindUntil || (i.liveReportSentAt ?? -Infinity) < i.grantsBindUntil)
    return {
      ...keep,
      endGrants: { member: live, epoch: i.epoch },
      reason: 'WaitingOutGrants',
      message: 'the standby has resynced; waiting until every grant to serve alone has expired',
      requeueAt: i.now < i.grantsBindUntil ? i.grantsBindUntil : i.now + RESYNC_RECHECK_MS,
    };
  return { reason: 'Resynced', message: 'the standby has resynced: it is promotable again' };
}

/** Solo grants are renewed this often, whatever the health-check period. */
export const GRANT_EVERY_MS = 1000;

/**
 * How long a solo grant lasts: it is counted from the answer before the one that renews it, so
 * it must outlive two renewal intervals, each as long as a check may take (with the drift
 * allowance taken off).
 */
export function soloGrantMs(timeoutSeconds: number, leaderHandoverMs = 0): number {
  return Math.ceil(
    2.5 * (GRANT_EVERY_MS + timeoutSeconds * 1000) + LEADER_HANDOVER_FACTOR * leaderHandoverMs,
  );
}

/**
 * With leader election, a grant also outlives a leader's death until the next leader grants
 * (the Lease's duration and a retry period, with room for its first check): a leader change while
 * a member serves alone costs no refused call. It costs no wait either: the grants are ended
 * explicitly once the standby has resynced (R6).
 */
export const LEADER_HANDOVER_FACTOR = 1.25;

/** Until when a grant anchored at an answer received at `anchorReceivedAt` binds the operator. */
export function grantBindsUntil(anchorReceivedAt: number, grantMs: number): number {
  return bindsUntil(anchorReceivedAt, grantMs);
}
