// The failover decision: a pure function from observations + policy + clock to a decision.
// No I/O and no clock of its own: `now` (ms since the epoch) is an argument. The reconciler (the
// shell) gathers the observation, calls decide(), carries the decision out and writes status.
//
// How the shell carries out a decision (order matters: never two live members):
//   1. write status (liveMember, epoch, …) — the intent is durable; a restarted operator repeats
//      the rest (a live member that reports `standby` is promoted again: action `repromote`),
//   2. if `fence`: when nobody is promoted, point the client Service at nothing; demote the
//      fenced member through the admin API with `epoch` (best effort: it may be unreachable;
//      awaited only when it is healthy, as in a switchover),
//   3. if `promote`: POST /v1/admin/promote {epoch, force: fence !== undefined}, then
//   4. point the client Service at `live` (or at nothing when `live` is '').
import type { ConditionSpec } from './conditions.ts';
import { conditionsOf, licenceConditionOf, phaseOf, servingCondition } from './decision-conditions.ts';
import type { Phase } from './decision-conditions.ts';
import { MEMBERS, otherMember } from '../api/pair.ts';
import type { Member } from '../api/pair.ts';
import { notPromotable } from './observation.ts';
import type { LiveMember, Observation, Policy } from './observation.ts';
import { assess } from './assess.ts';
import type { MemberAssessment, MemberReason } from './assess.ts';
import { decideServing } from './serving.ts';
import { dataLossOf, noLiveMember } from './no-live-member.ts';
import { liveLeaving } from './live-leaving.ts';
import type { DataLossVerdict } from './data-loss-promotion.ts';
import type { ServingAlone, ServingDecision } from './serving.ts';

// The decision's inputs and their Kubernetes adapters live beside it; importers of the decision
// get them from here too.
export * from './observation.ts';
export * from './observe-kube.ts';
export * from './assess.ts';
export type { Phase } from './decision-conditions.ts';

// ---------------------------------------------------------------------------------------------
// Decision

export type Action =
  | 'none'
  | 'initial-promote'
  | 'failover'
  | 'failback'
  | 'switchover'
  | 'serve-first-recovered'
  | 'fence-only'
  | 'repromote'
  | 'promote-accepting-data-loss';

export type Reason =
  | 'Healthy'
  | 'WaitingForMembers'
  | 'InitialPromotion'
  | 'MemberRecovered'
  | MemberReason
  | 'BothDown'
  | 'NoHealthyStandby'
  | 'StandbyNotInSync'
  | 'StandbyNotPromotable'
  | 'FailoverDisabled'
  | 'FailoverDelayed'
  | 'MinIntervalNotElapsed'
  | 'PreferredMemberChanged'
  | 'SwitchoverRequested'
  | 'SpecChanged'
  | 'WaitingForPreferred'
  | 'SwitchoverPending'
  | 'FailbackStable'
  | 'FailbackPending'
  | 'FailbackManual'
  | 'LiveMemberNotActive'
  | 'StrayActive'
  | 'DataLossAccepted'
  | 'LiveMemberLeaving';

/** The rows of the decision table (table()); each test scenario is checked to name its own. */
export const TABLE_ROWS = [
  '1',
  '2a',
  '2b',
  '2',
  '3a',
  '3',
  '4',
  '5',
  '6',
  '7',
  '8',
  '9',
  '10',
  '11',
  '12',
] as const;
export type TableRow = (typeof TABLE_ROWS)[number];

export interface Decision {
  /** The row of the decision table that decided. */
  row: TableRow;
  action: Action;
  reason: Reason;
  message: string;
  /** The live member after the decision ('' = the client Service selects no pod). */
  live: LiveMember;
  /** The live member before (status.liveMember). */
  previousLive: LiveMember;
  /** Take this member out of the Service and demote it (with `epoch`) before anything else. */
  fence?: Member;
  /** Promote this member with `epoch` (force: true when `fence` is set), then point the Service at it. */
  promote?: Member;
  /**
   * The fenced member answers (healthy, or leaving): await its demotion before the promotion, so
   * that the promoted member finds its peer a standby and need not wait its promise out.
   */
  demoteFirst?: true;
  /** The epoch to store in status and use for promote/demote; never below status.epoch. */
  epoch: number;
  /** The live member changes: set status.liveSince (and status.liveMember = live). */
  moved: boolean;
  /** Increment status.failoverCount (failover, failback, switchover). */
  countsAsFailover: boolean;
  /** For status.lastFailover: present when the Service moves, except for the initial promotion. */
  lastFailover?: {
    from: LiveMember;
    to: LiveMember;
    action: Action;
    reason: Reason;
    detectionSeconds?: number;
  };
  /** The value for status.preferredMember. */
  acknowledgedPreferredMember: Member;
  /** The switchover request (annotation) is handled: record its value in status.lastSwitchoverRequest. */
  requestHandled: boolean;
  phase: Phase;
  conditions: ConditionSpec[];
  members: Record<Member, MemberAssessment>;
  /** Reconcile again after this many ms: a timed rule (delay, stable period, min interval) is pending. */
  requeueAfterMs?: number;
  /** The serving rules (serving.ts): the next status.servingAlone and the solo grant to send. */
  serving: ServingDecision;
  /**
   * The verdict on a new lpo.dev/promote-accepting-data-loss value (data-loss-promotion.ts), with
   * the value: carried out (row 2a), pending (row 2b) or refused.
   */
  dataLoss?: { request: string; verdict: DataLossVerdict };
}

/** What a row of the table decides (rows of their own modules return it too). */
export interface Move {
  /** The row of the table that decided (see table()). */
  row: TableRow;
  action: Action;
  reason: Reason;
  message: string;
  live: LiveMember;
  fence?: Member;
  promote?: Member;
  requeueAt?: number;
  detectionSeconds?: number;
}

/**
 * The decision table. Rows are checked top to bottom; the first that applies wins (rows 1-2 are
 * in no-live-member.ts).
 *
 *  no live member:
 *    1. a member eligible (healthy, not catching up) → promote it (preferred first):
 *       `initial-promote` when never promoted (epoch 0), else `serve-first-recovered`;
 *       a new pair whose preferred member's pod started less than (successThreshold + 3) check
 *       periods ago waits for it instead of promoting the other (WaitingForPreferred)
 *   2a. a person asked to promote the member not promotable, accepting the loss of what the other
 *       served alone (data-loss-promotion.ts), and nothing stands against it any more →
 *       `promote-accepting-data-loss`: fence the member that served alone, promote the other
 *   2b. such a request waits (a grant may still be valid, the member is not healthy) → none,
 *       requeue when the grants have expired
 *    2. otherwise → none (Pending / Unavailable); a request that does not fit is refused
 *  live member failed (pod/node signal, or failureThreshold failed checks):
 *   3a. its pod is being deleted but it still answers, active in the epoch (assess.ts: leaving),
 *       and the standby is eligible for switchover → `switchover` (LiveMemberLeaving): a planned
 *       removal is handed over, the leaving member demoted first (live-leaving.ts); like any
 *       planned switchover, also with failover disabled and without waiting delaySeconds
 *    3. failover disabled → none, report only
 *    4. failing for less than delaySeconds → none, requeue
 *    5. standby eligible, minSecondsBetweenFailovers not elapsed → none, requeue; except when
 *       the live member's pod was deleted or replaced (PodDeleted, PodMissing, PodPending): no
 *       flap to guard against, and waiting leaves the pair without a server
 *    6. standby eligible → `failover`: fence the live member, promote the standby
 *    7. otherwise → `fence-only`: no live member (both down) until one recovers (row 1)
 *  live member not failed:
 *    8. standby reports active → `fence-only` (demote the standby)
 *    9. live member healthy (not catching up) but reports standby → `repromote` it with a new epoch
 *   10. live ≠ preferred and a switchover is requested (preferredMember changed or annotation),
 *       or a spec change is rolled out (the live member's pod runs the old spec, the standby's the
 *       new one: the standby counts as preferred, so the live member is replaced last):
 *       preferred eligible for switchover (healthy, in sync) → `switchover`, else pending;
 *       pending too while the preferred member's pod runs an older spec than the live one's (the
 *       rollout is replacing it: rows 10 and 11)
 *   11. live ≠ preferred, failback Automatic: preferred in sync and healthy for
 *       failbackStableSeconds and minSecondsBetweenFailovers elapsed → `failback`, else pending (requeue)
 *   12. otherwise → none
 */
export function decide(obs: Observation, specPolicy: Policy, now: number): Decision {
  const prevLive = obs.status.liveMember;
  // A spec change reaches the live member last: while its pod runs the old spec and the
  // standby's the new one, the standby is the member to switch over to (row 10).
  const rollout =
    prevLive !== '' &&
    obs.members[prevLive].specOutdated === true &&
    obs.members[otherMember(prevLive)].specOutdated !== true &&
    obs.members[otherMember(prevLive)].pod !== undefined;
  const policy = rollout ? { ...specPolicy, preferredMember: otherMember(prevLive as Member) } : specPolicy;
  const liveSince = obs.status.liveSince;
  const assessed = {
    primary: assess(
      obs.members.primary,
      prevLive === 'primary',
      liveSince,
      policy,
      obs.members.redundant,
      obs.licenceSecret,
    ),
    redundant: assess(
      obs.members.redundant,
      prevLive === 'redundant',
      liveSince,
      policy,
      obs.members.primary,
      obs.licenceSecret,
    ),
  };
  const members = withPromotability(assessed, obs.status.servingAlone);
  const reported = MEMBERS.map((m) =>
    policy.protocol === 'reference' ? (obs.members[m].server?.epoch ?? 0) : 0,
  );
  const currentEpoch = Math.max(0, obs.status.epoch);
  const nextEpoch = Math.max(currentEpoch, ...reported) + 1;
  const preferred = policy.preferredMember;
  const preferredChanged =
    obs.status.preferredMember !== undefined && obs.status.preferredMember !== preferred;
  const requested = preferredChanged || obs.switchoverRequested === true || rollout;

  const dataLoss = dataLossOf(obs, assessed, now);
  const move = table(obs, policy, now, members, requested, preferredChanged, rollout, dataLoss?.verdict);
  const promote = move.promote;
  const epoch = promote !== undefined ? nextEpoch : currentEpoch;
  const moved = move.live !== prevLive;
  const recordMove = moved && move.action !== 'initial-promote';
  const done = move.live === preferred;
  const phase = phaseOf(move.live, members, preferred, currentEpoch === 0 && promote === undefined);
  const serving = servingOf(obs, policy, now, move, members, epoch);

  const d: Decision = {
    row: move.row,
    action: move.action,
    reason: move.reason,
    message: move.message,
    live: move.live,
    previousLive: prevLive,
    ...(move.fence !== undefined ? { fence: move.fence } : {}),
    ...(promote !== undefined ? { promote } : {}),
    ...(move.fence !== undefined && (members[move.fence].healthy || members[move.fence].leaving)
      ? { demoteFirst: true as const }
      : {}),
    epoch,
    moved,
    countsAsFailover: moved && (['failover', 'failback', 'switchover'] as Action[]).includes(move.action),
    ...(recordMove
      ? {
          lastFailover: {
            from: prevLive,
            to: move.live,
            action: move.action,
            reason: move.reason,
            ...(move.detectionSeconds !== undefined ? { detectionSeconds: move.detectionSeconds } : {}),
          },
        }
      : {}),
    acknowledgedPreferredMember: !requested || done ? preferred : (obs.status.preferredMember ?? preferred),
    requestHandled: obs.switchoverRequested === true && done,
    phase,
    conditions: [
      ...conditionsOf(move, members, phase, epoch),
      servingCondition(serving),
      ...(policy.protocol === 'reference' ? [licenceConditionOf(obs, policy, move, members, now)] : []),
    ],
    members,
    serving,
    ...(dataLoss ? { dataLoss } : {}),
  };
  // The mark gone, the member it marked may be promoted: decide again at once without it.
  const unmarked = obs.status.servingAlone !== undefined && serving.alone === undefined ? now : Infinity;
  const requeueAt = Math.min(move.requeueAt ?? Infinity, serving.requeueAt ?? Infinity, unmarked);
  if (Number.isFinite(requeueAt)) d.requeueAfterMs = Math.max(1, Math.ceil(requeueAt - now));
  return d;
}

/** A member `status.servingAlone` marks cannot take over, however healthy (R5, docs/reliability.md). */
function withPromotability(
  a: Record<Member, MemberAssessment>,
  alone: ServingAlone | undefined,
): Record<Member, MemberAssessment> {
  const m = notPromotable(alone);
  if (m === undefined || alone === undefined) return a;
  const since = new Date(alone.since).toISOString();
  return {
    ...a,
    [m]: {
      ...a[m],
      notPromotable: true,
      eligibleForFailover: false,
      eligibleForSwitchover: false,
      message: `${a[m].healthy ? 'healthy, but ' : `${a[m].message}; `}not promotable until it has resynced (the ${alone.member} member has served alone since ${since})`,
    },
  };
}

function servingOf(
  obs: Observation,
  p: Policy,
  now: number,
  move: Move,
  a: Record<Member, MemberAssessment>,
  epoch: number,
): ServingDecision {
  const live = move.live;
  const liveServer = live === '' ? undefined : obs.members[live].server;
  const standbyServer = live === '' ? undefined : obs.members[otherMember(live)].server;
  const promoted = move.promote;
  return decideServing({
    protocol: p.protocol,
    live,
    moving: promoted !== undefined || move.fence !== undefined,
    // A new pair's first promotion has nothing the other member could miss: it is not marked.
    // Promoted accepting data loss, it serves alone too: the member that served alone must
    // resync from it (dropping what only it had) before it is promotable again.
    ...(promoted !== undefined &&
    move.action !== 'initial-promote' &&
    (a[otherMember(promoted)].failed || move.action === 'promote-accepting-data-loss')
      ? { promotingAlone: promoted }
      : {}),
    epoch,
    liveConfirmed:
      live !== '' && a[live].healthy && liveServer?.role === 'active' && liveServer.epoch === epoch,
    ...(liveServer ? { liveReplication: liveServer.replication } : {}),
    ...(liveServer?.serving ? { liveServing: liveServer.serving } : {}),
    ...(liveServer?.sentAt !== undefined ? { liveReportSentAt: liveServer.sentAt } : {}),
    standbyInSync: standbyServer?.role === 'standby' && standbyServer.replication === 'in-sync',
    standbyLeaving: live !== '' && obs.members[otherMember(live)].pod?.deleting === true,
    ...(obs.status.servingAlone ? { alone: obs.status.servingAlone } : {}),
    grantsBindUntil: obs.grantsBindUntil ?? -Infinity,
    now,
  });
}

/** The decision table: the group of rows that applies, by the live member's state. */
function table(
  obs: Observation,
  p: Policy,
  now: number,
  a: Record<Member, MemberAssessment>,
  requested: boolean,
  preferredChanged: boolean,
  rollout: boolean,
  dataLoss: DataLossVerdict | undefined,
): Move {
  const live = obs.status.liveMember;
  if (live === '') return noLiveMember(obs, p, now, a, dataLoss);
  const g: LiveGroup = {
    obs,
    p,
    now,
    live,
    standby: otherMember(live),
    L: a[live],
    S: a[otherMember(live)],
    ...intervalOf(obs, p, now),
  };
  return g.L.failed ? liveFailed(g) : liveServing(g, requested, preferredChanged, rollout);
}

/** The live member's pod is gone or was replaced: nothing a wait could bring back. */
const GONE: readonly Reason[] = ['PodDeleted', 'PodMissing', 'PodPending'];

/** What the rows about a live member read. */
interface LiveGroup {
  obs: Observation;
  p: Policy;
  now: number;
  live: Member;
  standby: Member;
  L: MemberAssessment;
  S: MemberAssessment;
  /** failover.minSecondsBetweenFailovers after the last move */
  intervalEnd: number | undefined;
  intervalPending: boolean;
}

function intervalOf(
  obs: Observation,
  p: Policy,
  now: number,
): Pick<LiveGroup, 'intervalEnd' | 'intervalPending'> {
  const lastAt = obs.status.lastFailoverAt;
  const intervalEnd = lastAt === undefined ? undefined : lastAt + p.minSecondsBetweenFailovers * 1000;
  return { intervalEnd, intervalPending: intervalEnd !== undefined && now < intervalEnd };
}

/** Rows 3a-7: the live member failed. */
function liveFailed(g: LiveGroup): Move {
  const { p, now, live, standby, L, S, intervalEnd, intervalPending } = g;
  const handover = liveLeaving(g.obs, p, live, standby, L, S);
  if (handover) return handover;
  const why = `the live ${live} member failed: ${L.message}`;
  if (!p.enabled)
    return {
      row: '3',
      action: 'none',
      reason: 'FailoverDisabled',
      message: `${why}; failover is disabled`,
      live,
    };
  const delayEnd = L.failingSince === undefined ? undefined : L.failingSince + p.delaySeconds * 1000;
  if (p.delaySeconds > 0 && delayEnd !== undefined && now < delayEnd) {
    return {
      action: 'none',
      row: '4',
      reason: 'FailoverDelayed',
      message: `${why}; waiting failover.delaySeconds`,
      live,
      requeueAt: delayEnd,
    };
  }
  const detectionSeconds =
    L.failingSince === undefined ? undefined : Math.max(0, (now - L.failingSince) / 1000);
  if (S.eligibleForFailover) {
    if (intervalPending && !GONE.includes(L.reason)) {
      return {
        action: 'none',
        row: '5',
        reason: 'MinIntervalNotElapsed',
        message: `${why}; waiting failover.minSecondsBetweenFailovers since the last failover`,
        live,
        requeueAt: intervalEnd,
      };
    }
    return {
      row: '6',
      action: 'failover',
      reason: L.reason,
      message: `${why}; failing over to the ${standby} member`,
      live: standby,
      fence: live,
      promote: standby,
      ...(detectionSeconds !== undefined ? { detectionSeconds } : {}),
    };
  }
  const reason: Reason = S.failed
    ? 'BothDown'
    : S.notPromotable
      ? 'StandbyNotPromotable'
      : S.healthy
        ? 'StandbyNotInSync'
        : 'NoHealthyStandby';
  return {
    row: '7',
    action: 'fence-only',
    reason,
    message: `${why}; the ${standby} member cannot take over (${S.message}); no member serves`,
    live: '',
    fence: live,
    ...(detectionSeconds !== undefined ? { detectionSeconds } : {}),
  };
}

/** Rows 8-12: the live member has not failed. */
function liveServing(g: LiveGroup, requested: boolean, preferredChanged: boolean, rollout: boolean): Move {
  const { obs, p, now, live, standby, L, S, intervalEnd } = g;
  const preferred = p.preferredMember;
  // Row 8: two actives: demote the standby.
  if (S.reportsActive) {
    return {
      action: 'fence-only',
      row: '8',
      reason: 'StrayActive',
      message: `the ${standby} member reports role active while the ${live} member is live; demoting it`,
      live,
      fence: standby,
    };
  }
  // Row 9: the live member restarted (or was never promoted): promote it again.
  if (p.protocol === 'reference' && L.eligibleForFailover && obs.members[live].server?.role === 'standby') {
    return {
      action: 'repromote',
      row: '9',
      reason: 'LiveMemberNotActive',
      message: `the live ${live} member reports role standby; promoting it again`,
      live,
      promote: live,
    };
  }

  if (live !== preferred) {
    const P = S; // the standby is the preferred member here
    // After a rollout switchover the member left behind still runs the old spec until its pod is
    // replaced: switching back to it would serve from a pod about to be deleted.
    const beingReplaced =
      obs.members[preferred].specOutdated === true && obs.members[live].specOutdated !== true;
    if (beingReplaced) {
      return {
        action: 'none',
        row: requested ? '10' : '11',
        reason: requested ? 'SwitchoverPending' : 'FailbackPending',
        message: `${requested ? 'switchover' : 'failback'} to the ${preferred} member pending: its pod is being replaced with the new spec`,
        live,
      };
    }
    // Row 10: planned switchover.
    if (requested) {
      const reason: Reason = rollout
        ? 'SpecChanged'
        : preferredChanged
          ? 'PreferredMemberChanged'
          : 'SwitchoverRequested';
      if (P.eligibleForSwitchover) {
        return {
          row: '10',
          action: 'switchover',
          reason,
          message: `switching over from the ${live} to the ${preferred} member`,
          live: preferred,
          fence: live,
          promote: preferred,
        };
      }
      return {
        action: 'none',
        row: '10',
        reason: 'SwitchoverPending',
        message: `switchover to the ${preferred} member pending: ${P.healthy ? 'not in sync' : P.message}`,
        live,
      };
    }
    // Row 11: automatic failback.
    if (p.failback === 'Automatic') {
      if (!P.eligibleForSwitchover) {
        return {
          action: 'none',
          row: '11',
          reason: 'FailbackPending',
          message: `failback to the ${preferred} member pending: ${P.healthy ? 'not in sync' : P.message}`,
          live,
        };
      }
      if (P.stableSince === undefined) {
        // Without probe.successSince (use recordProbe) the stable period cannot be measured.
        return {
          action: 'none',
          row: '11',
          reason: 'FailbackPending',
          message: `failback to the ${preferred} member pending: unknown since when it is healthy`,
          live,
        };
      }
      const stableEnd = P.stableSince + p.failbackStableSeconds * 1000;
      const waitUntil = Math.max(stableEnd, intervalEnd ?? -Infinity);
      if (now < waitUntil) {
        return {
          action: 'none',
          row: '11',
          reason: 'FailbackPending',
          message: `failback to the ${preferred} member once it has been stable for ${p.failbackStableSeconds}s`,
          live,
          requeueAt: waitUntil,
        };
      }
      return {
        action: 'failback',
        row: '11',
        reason: 'FailbackStable',
        message: `the ${preferred} member has been healthy for ${p.failbackStableSeconds}s; failing back`,
        live: preferred,
        fence: live,
        promote: preferred,
      };
    }
    return {
      action: 'none',
      row: '12',
      reason: 'FailbackManual',
      message: `serving from the ${live} member; failback is manual (request a switchover)`,
      live,
    };
  }
  return {
    action: 'none',
    row: '12',
    reason: L.failed ? L.reason : 'Healthy',
    message: `the ${live} member serves`,
    live,
  };
}
