// What a failed TLS handshake means for the person running the client, and how to fix it. These
// failures are final (retrying cannot change a certificate), and each names the fix.
import { LicenseError } from './errors.ts';

export type TlsProblem =
  'TLS_UNTRUSTED' | 'TLS_EXPIRED' | 'TLS_NOT_YET_VALID' | 'TLS_NAME_MISMATCH' | 'TLS_NOT_TLS';

/** The server's certificate could not be accepted (or the server does not speak TLS). */
export class TlsCertificateError extends LicenseError {
  override name = 'TlsCertificateError';
  /** node's / OpenSSL's code, e.g. UNABLE_TO_VERIFY_LEAF_SIGNATURE, CERT_HAS_EXPIRED */
  readonly tlsCode: string;
  readonly address: string;
  constructor(code: TlsProblem, message: string, tlsCode: string, address: string) {
    super(code, message, 0);
    this.tlsCode = tlsCode;
    this.address = address;
  }
}

const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
]);

const WHERE_THE_CA_IS =
  "the pair's CA bundle is the ca.crt of its ConfigMap <pair>-ca (kubectl get configmap <pair>-ca -o jsonpath='{.data.ca\\.crt}'; docs/tls.md); give all of it: during a CA rotation it holds two CAs";

/**
 * The typed error for a handshake failure `err` on a connection to `address`, or undefined when
 * it is not a certificate problem (a reset, a refused connection: retried as before).
 * `caGiven`: whether the client was given a CA bundle (the fix differs).
 */
export function tlsProblem(
  err: NodeJS.ErrnoException,
  address: string,
  caGiven: boolean,
): TlsCertificateError | undefined {
  const code = err.code ?? '';
  if (UNTRUSTED.has(code))
    return new TlsCertificateError(
      'TLS_UNTRUSTED',
      caGiven
        ? `the server's certificate at ${address} is not signed by the CA you gave (the ca option, --ca) (${code}); ${WHERE_THE_CA_IS}`
        : `the server's certificate at ${address} is not signed by a CA this client trusts (${code}); give the pair's CA bundle as the ca option (--ca FILE): ${WHERE_THE_CA_IS}`,
      code,
      address,
    );
  if (code === 'CERT_HAS_EXPIRED')
    return new TlsCertificateError(
      'TLS_EXPIRED',
      `the server's certificate at ${address} has expired (${code}): the pair's serving certificate was not renewed in time ` +
        `(see the member's log, "tls: certificates loaded", and its TLS Secret), or this machine's clock is wrong`,
      code,
      address,
    );
  if (code === 'CERT_NOT_YET_VALID')
    return new TlsCertificateError(
      'TLS_NOT_YET_VALID',
      `the server's certificate at ${address} is not valid yet (${code}): this machine's clock is behind the issuer's; fix the clock (NTP)`,
      code,
      address,
    );
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return new TlsCertificateError(
      'TLS_NAME_MISMATCH',
      `the server's certificate is not valid for the name in ${address} (${err.message}); connect with a name it holds, ` +
        `such as the pair's Service DNS name, rather than another alias or address`,
      code,
      address,
    );
  if (
    code === 'ERR_SSL_WRONG_VERSION_NUMBER' ||
    (code === 'EPROTO' && /wrong version number/i.test(err.message))
  )
    return new TlsCertificateError(
      'TLS_NOT_TLS',
      `${address} does not answer TLS (${code}): the member serves plaintext; use an http:// address, or turn TLS on for the pair`,
      code,
      address,
    );
  return undefined;
}
