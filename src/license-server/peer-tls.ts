// How a member's own calls to its peer's admin port use TLS: its certificate as the client
// certificate, the CA bundle to verify the peer, and the peer's identity checked on top of the
// host name. The calls are made from several places (status watch, fencing on promotion, the
// replication follower); they all build their request options from the peer's URL, so the
// credentials are registered here by the peer's origin and looked up in one line where each
// request is made, rather than handed down through every layer between main.ts and those calls.
import tls from 'node:tls';
import type { PeerCertificate } from 'node:tls';
import { describeIdentity, identitiesOf, isPeerOf } from '../tls/identity.ts';
import type { TlsMaterial } from './tls-credentials.ts';

/** The TLS part of an https.request's options. */
export type PeerTlsOptions = {
  ca: string;
  cert: string;
  key: string;
  checkServerIdentity: (host: string, cert: PeerCertificate) => Error | undefined;
};

const byOrigin = new Map<string, () => PeerTlsOptions>();

/** Verify the peer's certificate names the host dialled and another member of pair `pairId`. */
export function peerIdentityCheck(pairId: string, self: string): PeerTlsOptions['checkServerIdentity'] {
  return (host, cert) => {
    const hostError = tls.checkServerIdentity(host, cert);
    if (hostError) return hostError;
    const ids = identitiesOf(cert);
    if (ids.some((id) => isPeerOf(id, pairId, self))) return undefined;
    const err: NodeJS.ErrnoException = new Error(
      `the peer's certificate names ${ids.length ? ids.map(describeIdentity).join(', ') : 'no identity of this product'}, ` +
        `not the other member of pair ${pairId}`,
    );
    err.code = 'ERR_TLS_PEER_IDENTITY';
    return err;
  };
}

/** Use `material` (read when each request is made: it is reloaded) for calls to `peerUrl`. Returns the undo. */
export function usePeerTls(
  peerUrl: string,
  material: () => TlsMaterial,
  pairId: string,
  self: string,
): () => void {
  const origin = new URL(peerUrl).origin;
  const check = peerIdentityCheck(pairId, self);
  const options = (): PeerTlsOptions => {
    const m = material();
    return { ca: m.ca, cert: m.cert, key: m.key, checkServerIdentity: check };
  };
  byOrigin.set(origin, options);
  return () => {
    if (byOrigin.get(origin) === options) byOrigin.delete(origin);
  };
}

/** The TLS options for a request to `url` (none for a plaintext peer, or one without credentials). */
export function peerTlsOptions(url: URL): PeerTlsOptions | Record<string, never> {
  if (url.protocol !== 'https:') return {};
  return byOrigin.get(url.origin)?.() ?? {};
}
