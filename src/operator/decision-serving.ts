// What the serving rules (serving.ts) read of a decision: the move decide() made, the members'
// assessments and their reports. Pure.
import { otherMember } from '../api/pair.ts';
import type { Member } from '../api/pair.ts';
import type { MemberAssessment } from './assess.ts';
import type { Move } from './decision.ts';
import type { Observation, Policy } from './observation.ts';
import { decideServing } from './serving.ts';
import type { ServingDecision } from './serving.ts';

export function servingOf(
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
