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
import {
  CONDITION_DEGRADED,
  CONDITION_READY,
  CONDITION_SERVING_ALONE,
  CONDITION_STANDBY_READY,
} from './conditions.ts';
import { other, MEMBER_LIST, notPromotable } from './observation.ts';
import type { LiveMember, Member, Observation, Policy } from './observation.ts';
import { assess } from './assess.ts';
import type { MemberAssessment, MemberReason } from './assess.ts';
import { decideServing } from './serving.ts';
import { isCause, licenceCondition, pairCause } from './diagnosis.ts';
import type { ServingAlone, ServingDecision } from './serving.ts';

// The decision's inputs and their Kubernetes adapters live beside it; importers of the decision
// get them from here too.
export * from './observation.ts';
export * from './observe-kube.ts';
export * from './assess.ts';

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
  | 'repromote';

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
  | 'SwitchoverPending'
  | 'FailbackStable'
  | 'FailbackPending'
  | 'FailbackManual'
  | 'LiveMemberNotActive'
  | 'StrayActive';

export type Phase = 'Pending' | 'Running' | 'Degraded' | 'FailedOver' | 'Unavailable';

export interface Decision {
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
}

interface Move {
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
 * The decision table. Rows are checked top to bottom; the first that applies wins.
 *
 *  no live member:
 *    1. a member eligible (healthy, not catching up) → promote it (preferred first):
 *       `initial-promote` when never promoted (epoch 0), else `serve-first-recovered`
 *    2. otherwise → none (Pending / Unavailable)
 *  live member failed (pod/node signal, or failureThreshold failed checks):
 *    3. failover disabled → none, report only
 *    4. failing for less than delaySeconds → none, requeue
 *    5. standby eligible, minSecondsBetweenFailovers not elapsed → none, requeue
 *    6. standby eligible → `failover`: fence the live member, promote the standby
 *    7. otherwise → `fence-only`: no live member (both down) until one recovers (row 1)
 *  live member not failed:
 *    8. standby reports active → `fence-only` (demote the standby)
 *    9. live member healthy (not catching up) but reports standby → `repromote` it with a new epoch
 *   10. live ≠ preferred and a switchover is requested (preferredMember changed or annotation):
 *       preferred eligible for switchover (healthy, in sync) → `switchover`, else pending
 *   11. live ≠ preferred, failback Automatic: preferred in sync and healthy for
 *       failbackStableSeconds and minSecondsBetweenFailovers elapsed → `failback`, else pending (requeue)
 *   12. otherwise → none
 */
export function decide(obs: Observation, policy: Policy, now: number): Decision {
  const prevLive = obs.status.liveMember;
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
  const reported = MEMBER_LIST.map((m) =>
    policy.protocol === 'reference' ? (obs.members[m].server?.epoch ?? 0) : 0,
  );
  const currentEpoch = Math.max(0, obs.status.epoch);
  const nextEpoch = Math.max(currentEpoch, ...reported) + 1;
  const preferred = policy.preferredMember;
  const preferredChanged =
    obs.status.preferredMember !== undefined && obs.status.preferredMember !== preferred;
  const requested = preferredChanged || obs.switchoverRequested === true;

  const move = table(obs, policy, now, members, requested, preferredChanged);
  const promote = move.promote;
  const epoch = promote !== undefined ? nextEpoch : currentEpoch;
  const moved = move.live !== prevLive;
  const recordMove = moved && move.action !== 'initial-promote';
  const done = move.live === preferred;
  const phase = phaseOf(move.live, members, preferred, currentEpoch === 0 && promote === undefined);
  const serving = servingOf(obs, policy, now, move, members, epoch);

  const d: Decision = {
    action: move.action,
    reason: move.reason,
    message: move.message,
    live: move.live,
    previousLive: prevLive,
    ...(move.fence !== undefined ? { fence: move.fence } : {}),
    ...(promote !== undefined ? { promote } : {}),
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
  const standbyServer = live === '' ? undefined : obs.members[other(live)].server;
  const promoted = move.promote;
  return decideServing({
    protocol: p.protocol,
    live,
    moving: promoted !== undefined || move.fence !== undefined,
    // A new pair's first promotion has nothing the other member could miss: it is not marked.
    ...(promoted !== undefined && move.action !== 'initial-promote' && a[other(promoted)].failed
      ? { promotingAlone: promoted }
      : {}),
    epoch,
    liveConfirmed:
      live !== '' && a[live].healthy && liveServer?.role === 'active' && liveServer.epoch === epoch,
    ...(liveServer ? { liveReplication: liveServer.replication } : {}),
    ...(liveServer?.serving ? { liveServing: liveServer.serving } : {}),
    ...(liveServer?.sentAt !== undefined ? { liveReportSentAt: liveServer.sentAt } : {}),
    standbyInSync: standbyServer?.role === 'standby' && standbyServer.replication === 'in-sync',
    ...(obs.status.servingAlone ? { alone: obs.status.servingAlone } : {}),
    grantsBindUntil: obs.grantsBindUntil ?? -Infinity,
    now,
  });
}

function servingCondition(s: ServingDecision): ConditionSpec {
  if (s.alone)
    return {
      type: CONDITION_SERVING_ALONE,
      status: 'True',
      reason: s.reason === 'StartServingAlone' ? 'ServingAlone' : s.reason,
      message: `the ${s.alone.member} member serves alone (epoch ${s.alone.epoch}); the ${other(s.alone.member)} member is not promoted until it has resynced: ${s.message}`,
    };
  // One steady reason while paired, so that the condition does not cost a status write per reconcile.
  return s.reason === 'NotApplicable'
    ? { type: CONDITION_SERVING_ALONE, status: 'False', reason: 'NotApplicable', message: s.message }
    : {
        type: CONDITION_SERVING_ALONE,
        status: 'False',
        reason: 'Paired',
        message: 'no member serves alone: a change is acknowledged once the standby has it',
      };
}

function table(
  obs: Observation,
  p: Policy,
  now: number,
  a: Record<Member, MemberAssessment>,
  requested: boolean,
  preferredChanged: boolean,
): Move {
  const prevLive = obs.status.liveMember;
  const preferred = p.preferredMember;

  // Rows 1-2: no live member.
  if (prevLive === '') {
    const order: Member[] = [preferred, other(preferred)];
    const c = order.find((m) => a[m].eligibleForFailover);
    const initial = obs.status.epoch <= 0;
    if (c !== undefined) {
      const o = other(c);
      return {
        action: initial ? 'initial-promote' : 'serve-first-recovered',
        reason: initial ? 'InitialPromotion' : 'MemberRecovered',
        message: initial ? `promoting the ${c} member` : `the ${c} member recovered first; serving it`,
        live: c,
        promote: c,
        ...(a[o].reportsActive ? { fence: o } : {}),
      };
    }
    const stale = MEMBER_LIST.find((m) => a[m].notPromotable && a[m].healthy);
    if (stale !== undefined)
      return {
        action: 'none',
        reason: 'StandbyNotPromotable',
        message: `no member can serve: the ${stale} member is ${a[stale].message}; the ${other(stale)} member: ${a[other(stale)].message}`,
        live: '',
      };
    // Neither will serve by itself: say why (a missing Secret, a refused licence, an image…).
    const cause = pairCause(a, order);
    if (cause) return { action: 'none', reason: cause.reason, message: cause.message, live: '' };
    return {
      action: 'none',
      reason: initial ? 'WaitingForMembers' : 'BothDown',
      message: initial
        ? 'waiting for a member to become healthy'
        : `no member is healthy (primary: ${a.primary.message}; redundant: ${a.redundant.message})`,
      live: '',
    };
  }

  const live = prevLive;
  const standby = other(live);
  const L = a[live];
  const S = a[standby];
  const lastAt = obs.status.lastFailoverAt;
  const intervalEnd = lastAt === undefined ? undefined : lastAt + p.minSecondsBetweenFailovers * 1000;
  const intervalPending = intervalEnd !== undefined && now < intervalEnd;

  // Rows 3-7: the live member failed.
  if (L.failed) {
    const why = `the live ${live} member failed: ${L.message}`;
    if (!p.enabled)
      return { action: 'none', reason: 'FailoverDisabled', message: `${why}; failover is disabled`, live };
    const delayEnd = L.failingSince === undefined ? undefined : L.failingSince + p.delaySeconds * 1000;
    if (p.delaySeconds > 0 && delayEnd !== undefined && now < delayEnd) {
      return {
        action: 'none',
        reason: 'FailoverDelayed',
        message: `${why}; waiting failover.delaySeconds`,
        live,
        requeueAt: delayEnd,
      };
    }
    const detectionSeconds =
      L.failingSince === undefined ? undefined : Math.max(0, (now - L.failingSince) / 1000);
    if (S.eligibleForFailover) {
      if (intervalPending) {
        return {
          action: 'none',
          reason: 'MinIntervalNotElapsed',
          message: `${why}; waiting failover.minSecondsBetweenFailovers since the last failover`,
          live,
          requeueAt: intervalEnd,
        };
      }
      return {
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
      action: 'fence-only',
      reason,
      message: `${why}; the ${standby} member cannot take over (${S.message}); no member serves`,
      live: '',
      fence: live,
      ...(detectionSeconds !== undefined ? { detectionSeconds } : {}),
    };
  }

  // Row 8: two actives: demote the standby.
  if (S.reportsActive) {
    return {
      action: 'fence-only',
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
      reason: 'LiveMemberNotActive',
      message: `the live ${live} member reports role standby; promoting it again`,
      live,
      promote: live,
    };
  }

  if (live !== preferred) {
    const P = S; // the standby is the preferred member here
    // Row 10: planned switchover.
    if (requested) {
      const reason: Reason = preferredChanged ? 'PreferredMemberChanged' : 'SwitchoverRequested';
      if (P.eligibleForSwitchover) {
        return {
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
          reason: 'FailbackPending',
          message: `failback to the ${preferred} member pending: ${P.healthy ? 'not in sync' : P.message}`,
          live,
        };
      }
      if (P.stableSince === undefined) {
        // Without probe.successSince (use recordProbe) the stable period cannot be measured.
        return {
          action: 'none',
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
          reason: 'FailbackPending',
          message: `failback to the ${preferred} member once it has been stable for ${p.failbackStableSeconds}s`,
          live,
          requeueAt: waitUntil,
        };
      }
      return {
        action: 'failback',
        reason: 'FailbackStable',
        message: `the ${preferred} member has been healthy for ${p.failbackStableSeconds}s; failing back`,
        live: preferred,
        fence: live,
        promote: preferred,
      };
    }
    return {
      action: 'none',
      reason: 'FailbackManual',
      message: `serving from the ${live} member; failback is manual (request a switchover)`,
      live,
    };
  }
  return {
    action: 'none',
    reason: L.failed ? L.reason : 'Healthy',
    message: `the ${live} member serves`,
    live,
  };
}

function phaseOf(
  live: LiveMember,
  a: Record<Member, MemberAssessment>,
  preferred: Member,
  neverPromoted: boolean,
): Phase {
  if (live === '') return neverPromoted ? 'Pending' : 'Unavailable';
  if (a[live].failed) return 'Unavailable';
  if (live !== preferred) return 'FailedOver';
  if (!a[other(live)].eligibleForSwitchover) return 'Degraded';
  return 'Running';
}

/** LicenceValid: the licence the live member (else any member) has in force, or why there is none. */
function licenceConditionOf(
  obs: Observation,
  p: Policy,
  move: Move,
  a: Record<Member, MemberAssessment>,
  now: number,
): ConditionSpec {
  const first = move.live === '' ? p.preferredMember : move.live;
  const order = [first, other(first)];
  const cause = pairCause(a, order);
  const secretCause =
    cause && (cause.reason === 'LicenceSecretMissing' || cause.reason === 'LicenceKeyMissing')
      ? cause
      : undefined;
  return licenceCondition(
    order.map((m) => obs.members[m].server?.licence),
    secretCause,
    p.licence,
    now,
  );
}

function conditionsOf(
  move: Move,
  a: Record<Member, MemberAssessment>,
  phase: Phase,
  epoch: number,
): ConditionSpec[] {
  const live = move.live;
  let ready: ConditionSpec;
  let standbyReady: ConditionSpec;
  if (live === '') {
    const reason =
      move.reason === 'StandbyNotPromotable' || isCause(move.reason)
        ? move.reason
        : phase === 'Pending'
          ? 'WaitingForMembers'
          : 'BothDown';
    ready = { type: CONDITION_READY, status: 'False', reason, message: move.message };
    standbyReady = {
      type: CONDITION_STANDBY_READY,
      status: 'False',
      reason: 'NoLiveMember',
      message: 'no member is live',
    };
  } else {
    const L = a[live];
    ready = L.failed
      ? { type: CONDITION_READY, status: 'False', reason: L.reason, message: move.message }
      : !L.podReady
        ? {
            type: CONDITION_READY,
            status: 'False',
            reason: 'LiveMemberNotReady',
            message: `the ${live} member is live but its pod is not Ready: the Service has no endpoint for it`,
          }
        : {
            type: CONDITION_READY,
            status: 'True',
            reason: 'LiveMemberServing',
            message: `the ${live} member serves (epoch ${epoch})`,
          };
    const s = other(live);
    const S = a[s];
    standbyReady = S.eligibleForSwitchover
      ? {
          type: CONDITION_STANDBY_READY,
          status: 'True',
          reason: 'StandbyInSync',
          message: `the ${s} member can take over`,
        }
      : {
          type: CONDITION_STANDBY_READY,
          status: 'False',
          reason: S.healthy ? 'StandbyNotInSync' : S.reason,
          message: `the ${s} member cannot take over: ${S.message}`,
        };
  }
  let degraded: ConditionSpec;
  switch (phase) {
    case 'Pending':
      degraded = {
        type: CONDITION_DEGRADED,
        status: 'Unknown',
        reason: isCause(ready.reason) ? ready.reason : 'WaitingForMembers',
        message: move.message,
      };
      break;
    case 'Running':
      degraded = {
        type: CONDITION_DEGRADED,
        status: 'False',
        reason: 'AllMembersHealthy',
        message: 'both members are healthy and in sync',
      };
      break;
    case 'FailedOver':
      degraded = {
        type: CONDITION_DEGRADED,
        status: 'True',
        reason: 'FailedOver',
        message: `serving from the non-preferred ${live} member`,
      };
      break;
    case 'Degraded':
      degraded = {
        type: CONDITION_DEGRADED,
        status: 'True',
        reason: standbyReady.reason,
        message: standbyReady.message,
      };
      break;
    case 'Unavailable':
      degraded = { type: CONDITION_DEGRADED, status: 'True', reason: ready.reason, message: move.message };
      break;
  }
  return [ready, degraded, standbyReady];
}
