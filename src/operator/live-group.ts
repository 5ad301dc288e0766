// What the rows about a live member read (rows 3a-7: live-failed.ts, rows 8-12: live-serving.ts).
// Pure.
import { otherMember } from '../api/pair.ts';
import type { Member } from '../api/pair.ts';
import type { MemberAssessment } from './assess.ts';
import type { Observation, Policy } from './observation.ts';

/** What the rows about a live member read. */
export interface LiveGroup {
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

export function liveGroupOf(
  obs: Observation,
  p: Policy,
  now: number,
  live: Member,
  a: Record<Member, MemberAssessment>,
): LiveGroup {
  return {
    obs,
    p,
    now,
    live,
    standby: otherMember(live),
    L: a[live],
    S: a[otherMember(live)],
    ...intervalOf(obs, p, now),
  };
}
