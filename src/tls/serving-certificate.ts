// A serving certificate: what a TLS server shows its clients, valid for the host names and IP
// addresses they connect to (node checks the name in the URL against these SANs).
import type { CertificateAuthority } from './certificate-authority.ts';
import { issueLeaf } from './issue-leaf.ts';
import type { IssuedCertificate } from './issued.ts';
import type { ValidityRequest } from './validity.ts';

export type ServingRequest = ValidityRequest & {
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
};

export async function issueServingCertificate(
  ca: CertificateAuthority,
  req: ServingRequest,
): Promise<IssuedCertificate> {
  const first = req.dnsNames?.[0] ?? req.ipAddresses?.[0];
  if (first === undefined) throw new Error('a serving certificate needs a DNS name or an IP address');
  return issueLeaf(ca, { ...req, commonName: first, purposes: ['serverAuth'] });
}
