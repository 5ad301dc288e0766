// Row 3a of the decision table (failover.ts): the live member's pod is being deleted while its
// member still answers (a drain, an eviction, a rollout, `kubectl delete pod`). That is no
// failure to wait out but a planned removal: the member is handed over as in a switchover, the
// leaving one demoted first, so that the standby's promotion need not wait its promise out. Pure.
import type { MemberAssessment } from './assess.ts';
import type { Move } from './decision.ts';
import type { Member } from '../api/pair.ts';
import type { Observation, Policy } from './observation.ts';

export function liveLeaving(
  obs: Observation,
  p: Policy,
  live: Member,
  standby: Member,
  L: MemberAssessment,
  S: MemberAssessment,
): Move | undefined {
  if (L.leaving !== true || !S.eligibleForSwitchover) return undefined;
  // Reported active in the current epoch: it holds what a switchover hands over. A member that
  // no longer says so (restarted, stepped down) is failed over as before.
  const server = obs.members[live].server;
  if (p.protocol === 'reference' && (server?.role !== 'active' || server.epoch !== obs.status.epoch))
    return undefined;
  return {
    row: '3a',
    action: 'switchover',
    reason: 'LiveMemberLeaving',
    message: `the live ${live} member's pod is being deleted; handing over to the ${standby} member`,
    live: standby,
    fence: live,
    promote: standby,
  };
}
