// A client certificate: proves an identity (identity.ts) to a server that asks for one. The
// operator's is one of these: spiffe://license-pair-operator/operator.
import type { CertificateAuthority } from './certificate-authority.ts';
import { issueLeaf } from './issue-leaf.ts';
import type { IssuedCertificate } from './issued.ts';
import type { ValidityRequest } from './validity.ts';
import { OPERATOR_IDENTITY, parseIdentity } from './identity.ts';

export type ClientRequest = ValidityRequest & {
  /** the identity URI, e.g. OPERATOR_IDENTITY or memberIdentity(pairId, member) */
  identity: string;
};

export async function issueClientCertificate(
  ca: CertificateAuthority,
  req: ClientRequest,
): Promise<IssuedCertificate> {
  const id = parseIdentity(req.identity);
  if (!id) throw new Error(`"${req.identity}" is not an identity of this product (see src/tls/identity.ts)`);
  return issueLeaf(ca, {
    ...req,
    commonName: id.kind === 'operator' ? 'license-pair-operator' : `${id.pair}-${id.member}`,
    uris: [req.identity],
    purposes: ['clientAuth'],
  });
}

/** The operator's client certificate. */
export async function issueOperatorCertificate(
  ca: CertificateAuthority,
  validity: ValidityRequest,
): Promise<IssuedCertificate> {
  return issueClientCertificate(ca, { ...validity, identity: OPERATOR_IDENTITY });
}
