// Whether a member's certificate Secret can stay, needs a new certificate, or only a new CA
// bundle. Pure: the caller reads the Secret and the installation CA and passes the clock.
import { X509Certificate } from 'node:crypto';
import { identitiesOf, subjectAltNames, type Identity } from '../../tls/identity.ts';
import { renewalTime } from '../../tls/renewal.ts';

/** What a member's Secret holds (`tls.crt`, `tls.key`, `ca.crt`), decoded. */
export type MemberSecretData = { cert?: string; key?: string; bundle?: string };

export type MemberCertificateWant = {
  identity: Identity;
  dnsNames: readonly string[];
  /** the installation CA that issues now, PEM */
  caCertPem: string;
  /** the trust bundle members and clients must hold, PEM */
  bundle: string;
};

export type MemberSecretPlan =
  | { action: 'keep'; notAfter: Date; renewAt: Date }
  | { action: 'issue'; why: string }
  | { action: 'bundle'; notAfter: Date; renewAt: Date };

export function planMemberSecret(
  have: MemberSecretData | undefined,
  want: MemberCertificateWant,
  now: Date,
): MemberSecretPlan {
  if (!have?.cert || !have.key) return { action: 'issue', why: 'no certificate yet' };
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(have.cert);
  } catch (err) {
    return { action: 'issue', why: `the certificate does not parse (${(err as Error).message})` };
  }
  const ca = new X509Certificate(want.caCertPem);
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey))
    return { action: 'issue', why: 'issued by another CA than the current one' };
  const ids = identitiesOf(cert);
  if (ids.length !== 1 || !sameIdentity(ids[0]!, want.identity))
    return { action: 'issue', why: 'the certificate names another identity' };
  const names = new Set(
    subjectAltNames(cert.subjectAltName)
      .filter((n) => n.type === 'DNS')
      .map((n) => n.value),
  );
  if (want.dnsNames.some((n) => !names.has(n)))
    return { action: 'issue', why: 'the certificate lacks a host name its peer or clients dial' };
  const notAfter = new Date(cert.validTo);
  const notBefore = new Date(cert.validFrom);
  const renewAt = renewalTime({ notBefore, notAfter });
  if (now.getTime() >= renewAt.getTime())
    return { action: 'issue', why: `due for renewal since ${renewAt.toISOString()}` };
  if (have.bundle !== want.bundle) return { action: 'bundle', notAfter, renewAt };
  return { action: 'keep', notAfter, renewAt };
}

function sameIdentity(a: Identity, b: Identity): boolean {
  if (a.kind === 'operator' || b.kind === 'operator') return a.kind === b.kind;
  return a.namespace === b.namespace && a.pair === b.pair && a.member === b.member;
}
