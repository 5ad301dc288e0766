// What issuing gives back: the certificate and its private key in PEM, as a Secret of type
// kubernetes.io/tls holds them (tls.crt, tls.key), with the dates the renewal rule needs.
import { X509Certificate } from 'node:crypto';
import type { webcrypto } from 'node:crypto';
import type { x509 } from './x509-library.ts';
import { privateKeyPem } from './key-pair.ts';

export type IssuedCertificate = {
  certPem: string;
  keyPem: string;
  notBefore: Date;
  notAfter: Date;
  serialNumber: string;
  /** SHA-256 fingerprint, as node's X509Certificate.fingerprint256 writes it */
  fingerprint256: string;
};

export async function issued(
  cert: x509.X509Certificate,
  key: webcrypto.CryptoKey,
): Promise<IssuedCertificate> {
  const certPem = `${cert.toString('pem').trim()}\n`;
  return {
    certPem,
    keyPem: await privateKeyPem(key),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    serialNumber: cert.serialNumber,
    fingerprint256: new X509Certificate(certPem).fingerprint256,
  };
}
