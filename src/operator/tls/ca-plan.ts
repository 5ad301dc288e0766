// The installation CA's life. A new CA is added to the trust bundle well before it issues
// anything (the "next" CA, for `propagationMs`): members and clients read the bundle from mounted
// Secrets and ConfigMaps, which the kubelet refreshes only every minute or so, and a certificate of
// a CA a member does not trust yet would be refused. Once the next CA has had that time, it
// becomes the issuing CA; the old one stays in the bundle until it expires, and certificates it
// issued are reissued. Pure: the caller passes the clock.
import { X509Certificate } from 'node:crypto';
import { renewalTime } from '../../tls/renewal.ts';
import { bundleEntries } from '../../tls/trust-bundle.ts';

/** The CA Secret's content, decoded. */
export type CaSecretData = {
  /** the issuing CA (`tls.crt`, `tls.key`) */
  cert?: string;
  key?: string;
  /** every CA members and clients trust (`ca.crt`) */
  bundle?: string;
  /** the CA that issues next (`next.crt`, `next.key`), trusted from `nextActiveAt` on */
  nextCert?: string;
  nextKey?: string;
  nextActiveAt?: Date;
};

export type CaPlan =
  | { action: 'keep'; recheckAt: Date }
  | { action: 'issue'; why: string }
  /** make a next CA, add it to the bundle */
  | { action: 'prepare-next'; why: string }
  /** the next CA issues from now on */
  | { action: 'activate-next'; why: string }
  /** the bundle without expired CAs, with the issuing and next CAs */
  | { action: 'rebundle'; bundle: string; why: string };

export function planCa(have: CaSecretData | undefined, now: Date): CaPlan {
  if (!have?.cert || !have.key || !have.bundle) return { action: 'issue', why: 'no CA yet' };
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(have.cert);
  } catch (err) {
    return { action: 'issue', why: `the CA certificate does not parse (${(err as Error).message})` };
  }
  const t = now.getTime();
  const hasNext = have.nextCert !== undefined && have.nextKey !== undefined;
  if (new Date(cert.validTo).getTime() <= t && !hasNext)
    return { action: 'issue', why: 'the CA has expired' };
  if (hasNext && have.nextActiveAt !== undefined && have.nextActiveAt.getTime() <= t)
    return { action: 'activate-next', why: 'the next CA has been in the trust bundle long enough' };
  const rotateAt = renewalTime({ notBefore: new Date(cert.validFrom), notAfter: new Date(cert.validTo) });
  if (!hasNext && t >= rotateAt.getTime())
    return { action: 'prepare-next', why: `the CA is due for rotation since ${rotateAt.toISOString()}` };

  let entries: ReturnType<typeof bundleEntries>;
  try {
    entries = bundleEntries(have.bundle);
  } catch {
    entries = [];
  }
  const must = [have.nextCert, have.cert].filter((p): p is string => p !== undefined);
  const fingerprints = new Set(entries.map((e) => e.fingerprint256));
  const missing = must.filter((p) => !fingerprints.has(new X509Certificate(p).fingerprint256));
  const live = entries.filter((e) => e.notAfter.getTime() > t);
  if (missing.length > 0 || live.length < entries.length) {
    const seen = new Set<string>();
    const pems = [...missing, ...live.map((e) => e.pem)].filter((p) => {
      const f = new X509Certificate(p).fingerprint256;
      if (seen.has(f)) return false;
      seen.add(f);
      return true;
    });
    return {
      action: 'rebundle',
      bundle: pems.map((p) => `${p.trim()}\n`).join(''),
      why:
        missing.length > 0 ? 'the bundle lacks a CA of this installation' : 'an expired CA left the bundle',
    };
  }
  const next = [
    hasNext ? have.nextActiveAt?.getTime() : rotateAt.getTime(),
    ...entries.map((e) => e.notAfter.getTime()),
  ].filter((x): x is number => x !== undefined && x > t);
  return { action: 'keep', recheckAt: new Date(Math.min(...next)) };
}
