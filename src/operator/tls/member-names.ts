// The host names a member's certificate must hold: those its peer dials (the per-member Service,
// LS_PEER_URL) and those clients dial (the client Service, and the member Service a NOT_ACTIVE
// answer redirects to). The operator itself checks the member's identity, not a name, so the pod
// IP it dials need not be in the certificate.
import type { Member } from '../../api/pair.ts';
import { childNames } from '../child-names.ts';

export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';

function serviceNames(service: string, namespace: string, clusterDomain: string): string[] {
  return [
    service,
    `${service}.${namespace}`,
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.${clusterDomain}`,
  ];
}

export function memberDnsNames(
  pairName: string,
  namespace: string,
  member: Member,
  clusterDomain = DEFAULT_CLUSTER_DOMAIN,
): string[] {
  const names = childNames(pairName);
  return [
    ...serviceNames(names.memberService[member], namespace, clusterDomain),
    ...serviceNames(names.clientService, namespace, clusterDomain),
  ];
}
