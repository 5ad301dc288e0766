// A member's certificate: one key pair that serves (its licence and admin ports, for the names
// clients and the peer use) and that the member presents as a client to its peer, carrying its
// identity. One certificate per member keeps the mounted Secret in the kubernetes.io/tls shape
// (tls.crt, tls.key, ca.crt) that cert-manager writes too.
import type { CertificateAuthority } from './certificate-authority.ts';
import { memberIdentity } from './identity.ts';
import { issueLeaf } from './issue-leaf.ts';
import type { IssuedCertificate } from './issued.ts';
import type { ServingRequest } from './serving-certificate.ts';

export type MemberRequest = ServingRequest & {
  /** "namespace/name", as LS_PAIR_ID */
  pairId: string;
  /** primary or redundant */
  member: string;
};

export async function issueMemberCertificate(
  ca: CertificateAuthority,
  req: MemberRequest,
): Promise<IssuedCertificate> {
  const identity = memberIdentity(req.pairId, req.member);
  if (!req.dnsNames?.length && !req.ipAddresses?.length)
    throw new Error(
      'a member certificate needs the DNS names or IP addresses its clients and peer connect to',
    );
  return issueLeaf(ca, {
    ...req,
    commonName: `${req.pairId.split('/')[1] ?? req.pairId}-${req.member}`,
    uris: [identity],
    purposes: ['serverAuth', 'clientAuth'],
  });
}
