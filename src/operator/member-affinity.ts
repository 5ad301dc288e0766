import type { V1Affinity, V1PodAffinityTerm } from '@kubernetes/client-node';
import { LABEL_MEMBER, LABEL_PAIR, otherMember, type LicenseServerPair, type Member } from '../api/pair.ts';

function antiAffinityTerm(pair: LicenseServerPair, member: Member): V1PodAffinityTerm {
  return {
    labelSelector: { matchLabels: { [LABEL_PAIR]: pair.metadata.name, [LABEL_MEMBER]: otherMember(member) } },
    topologyKey: 'kubernetes.io/hostname',
  };
}

type AffinityObject = {
  podAntiAffinity?: {
    requiredDuringSchedulingIgnoredDuringExecution?: unknown[];
    preferredDuringSchedulingIgnoredDuringExecution?: unknown[];
    [k: string]: unknown;
  };
  [k: string]: unknown;
};

/** The user's affinity plus the operator's anti-affinity term between the members. */
export function memberAffinity(pair: LicenseServerPair, member: Member): V1Affinity | undefined {
  const user = structuredClone((pair.spec.placement.affinity ?? {}) as AffinityObject);
  const mode = pair.spec.placement.spreadMembers;
  if (mode !== 'None') {
    const anti = { ...(user.podAntiAffinity ?? {}) };
    const term = antiAffinityTerm(pair, member);
    if (mode === 'Required') {
      anti.requiredDuringSchedulingIgnoredDuringExecution = [
        ...(anti.requiredDuringSchedulingIgnoredDuringExecution ?? []),
        term,
      ];
    } else {
      anti.preferredDuringSchedulingIgnoredDuringExecution = [
        ...(anti.preferredDuringSchedulingIgnoredDuringExecution ?? []),
        { weight: 100, podAffinityTerm: term },
      ];
    }
    user.podAntiAffinity = anti;
  }
  return Object.keys(user).length > 0 ? (user as V1Affinity) : undefined;
}
