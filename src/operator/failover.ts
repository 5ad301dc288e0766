// The failover decision: a pure function from observations + policy + clock to a decision.
// No I/O and no clock of its own: `now` (ms since the epoch) is an argument. The reconciler (the
// shell) gathers the observation, calls decide(), carries the decision out (decision.ts: how) and
// writes status.
import { MEMBERS, otherMember } from '../api/pair.ts';
import type { Member } from '../api/pair.ts';
import { assess, withPromotability } from './assess.ts';
import type { MemberAssessment } from './assess.ts';
import type { DataLossVerdict } from './data-loss-promotion.ts';
import type { Action, Decision, Move } from './decision.ts';
import { conditionsOf, licenceConditionOf, phaseOf, servingCondition } from './decision-conditions.ts';
import { servingOf } from './decision-serving.ts';
import { liveFailed } from './live-failed.ts';
import { liveGroupOf } from './live-group.ts';
import { liveServing } from './live-serving.ts';
import { dataLossOf, noLiveMember } from './no-live-member.ts';
import type { Observation, Policy } from './observation.ts';

/**
 * The decision table. Rows are checked top to bottom; the first that applies wins. One function
 * per group of rows: no live member (rows 1-2, no-live-member.ts), the live member failed (rows
 * 3a-7, live-failed.ts), the live member not failed (rows 8-12, live-serving.ts).
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
    ...(move.peerExited ? { peerExited: true as const } : {}),
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
  const g = liveGroupOf(obs, p, now, live, a);
  return g.L.failed ? liveFailed(g) : liveServing(g, requested, preferredChanged, rollout);
}
