// Rows 1-2 of the decision table (failover.ts): no member is live. The member to serve, and the one
// way past a member marked not promotable: a person's request to promote it accepting data loss
// (data-loss-promotion.ts), judged here and carried out as a move of its own. Pure.
import type { MemberAssessment } from './assess.ts';
import { judgeDataLossPromotion } from './data-loss-promotion.ts';
import type { DataLossVerdict } from './data-loss-promotion.ts';
import { pairCause } from './diagnosis.ts';
import type { Decision, Move } from './decision.ts';
import { MEMBERS, otherMember } from '../api/pair.ts';
import type { Member } from '../api/pair.ts';
import { notPromotable } from './observation.ts';
import type { Observation, Policy } from './observation.ts';

/** The verdict on a data-loss promotion request not handled before (status.dataLossPromotion). */
export function dataLossOf(
  obs: Observation,
  a: Record<Member, MemberAssessment>,
  now: number,
): Decision['dataLoss'] {
  const request = obs.dataLossRequest;
  if (request === undefined) return undefined;
  const alone = obs.status.servingAlone;
  const target = notPromotable(alone);
  const verdict = judgeDataLossPromotion({
    request,
    ...(alone ? { alone } : {}),
    live: obs.status.liveMember,
    aloneMemberEligible: alone !== undefined && a[alone.member].eligibleForFailover,
    candidate: target
      ? { eligible: a[target].eligibleForFailover, message: a[target].message }
      : { eligible: false, message: 'no member is marked' },
    grantsBindUntil: obs.grantsBindUntil ?? -Infinity,
    now,
  });
  return { request, verdict };
}

/** Rows 1-2: no live member. */
export function noLiveMember(
  obs: Observation,
  p: Policy,
  now: number,
  a: Record<Member, MemberAssessment>,
  dataLoss: DataLossVerdict | undefined,
): Move {
  const preferred = p.preferredMember;
  const order: Member[] = [preferred, otherMember(preferred)];
  const c = order.find((m) => a[m].eligibleForFailover);
  const initial = obs.status.epoch <= 0;
  // A new pair starts on its preferred member: when the other passed its checks first, the
  // preferred one gets a few periods from when its container started.
  const preferredPod = obs.members[preferred].pod;
  const graceEnd =
    preferredPod?.startedAt === undefined
      ? undefined
      : preferredPod.startedAt + (p.successThreshold + 3) * (p.periodSeconds ?? 2) * 1000;
  if (
    initial &&
    c !== undefined &&
    c !== preferred &&
    !preferredPod?.deleting &&
    graceEnd !== undefined &&
    now < graceEnd
  )
    return {
      action: 'none',
      row: '1',
      reason: 'WaitingForPreferred',
      message: `waiting for the preferred ${preferred} member (the ${c} member is healthy)`,
      live: '',
      requeueAt: graceEnd,
    };
  if (c !== undefined) {
    const o = otherMember(c);
    return {
      row: '1',
      action: initial ? 'initial-promote' : 'serve-first-recovered',
      reason: initial ? 'InitialPromotion' : 'MemberRecovered',
      message: initial ? `promoting the ${c} member` : `the ${c} member recovered first; serving it`,
      live: c,
      promote: c,
      ...(a[o].reportsActive ? { fence: o } : {}),
    };
  }
  if (dataLoss?.kind === 'promote')
    return {
      row: '2a',
      action: 'promote-accepting-data-loss',
      reason: 'DataLossAccepted',
      message: dataLoss.message,
      live: dataLoss.member,
      promote: dataLoss.member,
      // Out of the Service already; demoted with the new epoch in case it is only cut off.
      fence: otherMember(dataLoss.member),
    };
  const stale = MEMBERS.find((m) => a[m].notPromotable && a[m].healthy);
  const why =
    stale &&
    `no member can serve: the ${stale} member is ${a[stale].message}; the ${otherMember(stale)} member: ${a[otherMember(stale)].message}`;
  if (dataLoss?.kind === 'wait')
    return {
      row: '2b',
      action: 'none',
      reason: 'StandbyNotPromotable',
      message: `${why ?? `the ${dataLoss.member} member is not promotable`}; a promotion accepting data loss is pending: ${dataLoss.message}`,
      live: '',
      ...(dataLoss.until !== undefined ? { requeueAt: dataLoss.until } : {}),
    };
  if (stale !== undefined)
    return { row: '2', action: 'none', reason: 'StandbyNotPromotable', message: why!, live: '' };
  // Neither will serve by itself: say why (a missing Secret, a refused licence, an image…).
  const cause = pairCause(a, order);
  if (cause) return { row: '2', action: 'none', reason: cause.reason, message: cause.message, live: '' };
  return {
    row: '2',
    action: 'none',
    reason: initial ? 'WaitingForMembers' : 'BothDown',
    message: initial
      ? 'waiting for a member to become healthy'
      : `no member is healthy (primary: ${a.primary.message}; redundant: ${a.redundant.message})`,
    live: '',
  };
}
