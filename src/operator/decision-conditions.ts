// The conditions and the phase a decision states (decide() in failover.ts): Ready, Degraded,
// StandbyReady, ServingAlone and LicenceValid, from the move it made and the members' assessments.
// Pure.
import type { MemberAssessment } from './assess.ts';
import type { ConditionSpec } from './conditions.ts';
import {
  CONDITION_DEGRADED,
  CONDITION_READY,
  CONDITION_SERVING_ALONE,
  CONDITION_STANDBY_READY,
} from './conditions.ts';
import { isCause, licenceCondition, pairCause } from './diagnosis.ts';
import { otherMember } from '../api/pair.ts';
import type { Member } from '../api/pair.ts';
import type { LiveMember, Observation, Policy } from './observation.ts';
import type { ServingDecision } from './serving.ts';

export type Phase = 'Pending' | 'Running' | 'Degraded' | 'FailedOver' | 'Unavailable';

/** What of the decision's move the conditions say. */
export interface Outcome {
  live: LiveMember;
  reason: string;
  message: string;
}

export function servingCondition(s: ServingDecision): ConditionSpec {
  if (s.alone)
    return {
      type: CONDITION_SERVING_ALONE,
      status: 'True',
      // One reason from the episode's first write on: its cause is in the message.
      reason: s.reason === 'StartServingAlone' || s.reason === 'StandbyLeaving' ? 'ServingAlone' : s.reason,
      message: `the ${s.alone.member} member serves alone (epoch ${s.alone.epoch}); the ${otherMember(s.alone.member)} member is not promoted until it has resynced: ${s.message}`,
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

export function phaseOf(
  live: LiveMember,
  a: Record<Member, MemberAssessment>,
  preferred: Member,
  neverPromoted: boolean,
): Phase {
  if (live === '') return neverPromoted ? 'Pending' : 'Unavailable';
  if (a[live].failed) return 'Unavailable';
  if (live !== preferred) return 'FailedOver';
  if (!a[otherMember(live)].eligibleForSwitchover) return 'Degraded';
  return 'Running';
}

/** LicenceValid: the licence the live member (else any member) has in force, or why there is none. */
export function licenceConditionOf(
  obs: Observation,
  p: Policy,
  move: Outcome,
  a: Record<Member, MemberAssessment>,
  now: number,
): ConditionSpec {
  const first = move.live === '' ? p.preferredMember : move.live;
  const order = [first, otherMember(first)];
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

export function conditionsOf(
  move: Outcome,
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
    const s = otherMember(live);
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
