// The operator dials pod IPs, which are in no certificate, so the usual host-name check cannot
// tell one member from another: this is the check that replaces it.
import type { PeerCertificate } from 'node:tls';
import { describeIdentity, identitiesOf, type Identity } from '../../tls/identity.ts';

/** The member's certificate must carry exactly the identity of the member the call is for. */
export function checkMemberIdentity(
  cert: PeerCertificate,
  want: Identity & { kind: 'member' },
): Error | undefined {
  const ids = identitiesOf(cert);
  const ok = ids.some(
    (id) =>
      id.kind === 'member' &&
      id.namespace === want.namespace &&
      id.pair === want.pair &&
      id.member === want.member,
  );
  if (ok) return undefined;
  const got = ids.length > 0 ? ids.map(describeIdentity).join(', ') : 'no identity of this product';
  return new Error(`the certificate names ${got}, not ${describeIdentity(want)}`);
}
