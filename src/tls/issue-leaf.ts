// Signing an end-entity certificate with a CA: the extensions every leaf of the product carries
// (not a CA, digitalSignature, the extended key usages asked for, SANs, key identifiers). The
// kinds of leaf (serving, client, member) are in their own modules and call this.
import { isIP } from 'node:net';
import type { CertificateAuthority } from './certificate-authority.ts';
import { SIGNING_ALGORITHM, generateKeyPair } from './key-pair.ts';
import { issued } from './issued.ts';
import type { IssuedCertificate } from './issued.ts';
import { randomSerial, validityWindow } from './validity.ts';
import type { ValidityRequest } from './validity.ts';
import { x509 } from './x509-library.ts';

export type KeyPurpose = 'serverAuth' | 'clientAuth';

export type LeafRequest = ValidityRequest & {
  commonName: string;
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
  uris?: readonly string[];
  purposes: readonly KeyPurpose[];
};

const PURPOSE_OID: Record<KeyPurpose, string> = {
  serverAuth: x509.ExtendedKeyUsage.serverAuth,
  clientAuth: x509.ExtendedKeyUsage.clientAuth,
};

function altNames(req: LeafRequest): x509.JsonGeneralName[] {
  for (const ip of req.ipAddresses ?? [])
    if (isIP(ip) === 0) throw new Error(`"${ip}" is not an IP address (put host names in dnsNames)`);
  return [
    ...(req.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(req.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
    ...(req.uris ?? []).map((value) => ({ type: 'url' as const, value })),
  ];
}

export async function issueLeaf(ca: CertificateAuthority, req: LeafRequest): Promise<IssuedCertificate> {
  if (req.purposes.length === 0) throw new Error('a certificate needs at least one purpose');
  const names = altNames(req);
  if (names.length === 0) throw new Error('a certificate needs at least one subject alternative name');
  const keys = await generateKeyPair();
  const { notBefore, notAfter } = validityWindow(req);
  // A leaf never outlives its CA: a client would refuse the chain from the CA's expiry on.
  const caEnd = ca.certificate.notAfter;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [req.commonName] }],
    issuer: ca.certificate.subject,
    publicKey: keys.publicKey,
    signingKey: ca.signingKey,
    notBefore,
    notAfter: notAfter > caEnd ? caEnd : notAfter,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(
        req.purposes.map((p) => PURPOSE_OID[p]),
        false,
      ),
      new x509.SubjectAlternativeNameExtension(names, false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.certificate.publicKey),
    ],
  });
  return issued(cert, keys.privateKey);
}
