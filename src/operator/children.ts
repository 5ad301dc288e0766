// Desired child objects of a LicenseServerPair. Pure: plain objects typed with @kubernetes/client-node's
// model types, no I/O. The reconciler applies them (server-side apply, field manager FIELD_MANAGER) and
// manages the role label (LABEL_ROLE) and the client Service's selector on its own schedule.
import type {
  V1PersistentVolumeClaim,
  V1Pod,
  V1PodDisruptionBudget,
  V1Service,
} from '@kubernetes/client-node';
import { MEMBERS, type LicenseServerPair, type Member } from '../api/pair.ts';
import { desiredPod } from './member-pod-spec.ts';
import { desiredPvc } from './member-state-claim.ts';
import type { LiveMember } from './observation.ts';
import { desiredPdb } from './pair-disruption-budget.ts';
import { desiredClientService, desiredMemberService } from './pair-services.ts';

export interface DesiredChildren {
  pods: Record<Member, V1Pod>;
  memberServices: Record<Member, V1Service>;
  clientService: V1Service;
  pdb: V1PodDisruptionBudget;
  /** Present when spec.server.storage is set. */
  pvcs?: Record<Member, V1PersistentVolumeClaim>;
}

/** Everything the pair should own, with the client Service pointing at `live`. */
export function desiredChildren(pair: LicenseServerPair, live: LiveMember): DesiredChildren {
  const byMember = <T>(f: (m: Member) => T): Record<Member, T> =>
    Object.fromEntries(MEMBERS.map((m) => [m, f(m)])) as Record<Member, T>;
  const out: DesiredChildren = {
    pods: byMember((m) => desiredPod(pair, m)),
    memberServices: byMember((m) => desiredMemberService(pair, m)),
    clientService: desiredClientService(pair, live),
    pdb: desiredPdb(pair),
  };
  if (pair.spec.server.storage) out.pvcs = byMember((m) => desiredPvc(pair, m)!);
  return out;
}
