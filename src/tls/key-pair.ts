// Key pairs for certificates: ECDSA P-256 (small certificates, fast handshakes, accepted by every
// TLS stack the clients run), generated and held by node's WebCrypto, exported as PKCS#8 PEM for
// the `tls.key` of a Secret.
import { createPrivateKey, webcrypto } from 'node:crypto';

export const SIGNING_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export async function generateKeyPair(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(SIGNING_ALGORITHM, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
}

export async function privateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({
    format: 'pem',
    type: 'pkcs8',
  }) as string;
}

/** A P-256 private key in PEM (PKCS#8 or SEC1 "EC PRIVATE KEY") as a WebCrypto signing key. */
export async function importSigningKey(pem: string): Promise<webcrypto.CryptoKey> {
  const key = createPrivateKey(pem);
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== 'ec' || (curve !== 'prime256v1' && curve !== 'P-256'))
    throw new Error(
      `the CA key must be an ECDSA P-256 key, got ${key.asymmetricKeyType ?? 'unknown'}${curve ? ` (${curve})` : ''}`,
    );
  const der = key.export({ type: 'pkcs8', format: 'der' });
  return webcrypto.subtle.importKey('pkcs8', der, SIGNING_ALGORITHM, false, ['sign']);
}
