// A certificate authority: issuing a new one (self-signed, for an installation or a pair) and
// loading one from its PEM files (a Secret written earlier) to issue with.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { x509 } from './x509-library.ts';
import type { webcrypto } from 'node:crypto';
import { SIGNING_ALGORITHM, generateKeyPair, importSigningKey } from './key-pair.ts';
import { issued } from './issued.ts';
import type { IssuedCertificate } from './issued.ts';
import { randomSerial, validityWindow } from './validity.ts';
import type { ValidityRequest } from './validity.ts';

/** A CA ready to sign: its certificate and its signing key. */
export type CertificateAuthority = {
  certPem: string;
  certificate: x509.X509Certificate;
  signingKey: webcrypto.CryptoKey;
};

export type CaRequest = ValidityRequest & { commonName: string };

/** A new self-signed CA that may sign leaf certificates only (path length 0). */
export async function issueCertificateAuthority(
  req: CaRequest,
): Promise<IssuedCertificate & { authority: CertificateAuthority }> {
  const keys = await generateKeyPair();
  const { notBefore, notAfter } = validityWindow(req);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [req.commonName] }],
    keys,
    notBefore,
    notAfter,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const out = await issued(cert, keys.privateKey);
  return { ...out, authority: { certPem: out.certPem, certificate: cert, signingKey: keys.privateKey } };
}

/** A CA from its certificate and key PEM (for example the `tls.crt`/`tls.key` of its Secret). */
export async function loadCertificateAuthority(
  certPem: string,
  keyPem: string,
): Promise<CertificateAuthority> {
  const check = new X509Certificate(certPem);
  if (!check.ca) throw new Error(`${check.subject} is not a CA certificate (basicConstraints CA:FALSE)`);
  const signingKey = await importSigningKey(keyPem);
  if (!check.checkPrivateKey(createPrivateKey(keyPem)))
    throw new Error(`the CA key does not belong to the CA certificate ${check.subject}`);
  return { certPem: `${certPem.trim()}\n`, certificate: new x509.X509Certificate(certPem), signingKey };
}
