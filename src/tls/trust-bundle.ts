// The CA bundle (`ca.crt`) that servers check client certificates against and clients check
// servers against. A CA rotation goes through a bundle holding both CAs:
//
//   1. addToBundle(bundle, newCa): old + new; every party trusts certificates of either CA
//   2. reissue the certificates with the new CA (each party still trusts the old ones it meets)
//   3. removeFromBundle(bundle, oldCa): the new CA alone, once no certificate of the old is in use
//
// Pure text in, text out (PEM), so the result can be written to a Secret or ConfigMap as is.
import { X509Certificate } from 'node:crypto';
import { certificateBlocks } from './pem.ts';

export type BundleEntry = {
  pem: string;
  subject: string;
  fingerprint256: string;
  notAfter: Date;
};

/** The CA certificates of a bundle, in order. A certificate that is not a CA is refused. */
export function bundleEntries(bundle: string): BundleEntry[] {
  return certificateBlocks(bundle).map((pem) => {
    const c = new X509Certificate(pem);
    if (!c.ca) throw new Error(`${c.subject} is not a CA certificate and does not belong in a trust bundle`);
    return { pem, subject: c.subject, fingerprint256: c.fingerprint256, notAfter: new Date(c.validTo) };
  });
}

function write(entries: readonly BundleEntry[]): string {
  return entries.map((e) => e.pem).join('');
}

/**
 * `bundle` with the CAs of `ca` added at the front (the newest first, as a reader sees it), each
 * certificate once, and the CAs expired at `now` left out: they can verify nothing any more.
 */
export function addToBundle(bundle: string, ca: string, now: Date): string {
  const seen = new Set<string>();
  const kept: BundleEntry[] = [];
  for (const e of [...bundleEntries(ca), ...bundleEntries(bundle)]) {
    if (seen.has(e.fingerprint256) || e.notAfter.getTime() <= now.getTime()) continue;
    seen.add(e.fingerprint256);
    kept.push(e);
  }
  return write(kept);
}

/** `bundle` without the CAs of `ca` (the end of a rotation's overlap). Refuses to leave it empty. */
export function removeFromBundle(bundle: string, ca: string): string {
  const drop = new Set(bundleEntries(ca).map((e) => e.fingerprint256));
  const kept = bundleEntries(bundle).filter((e) => !drop.has(e.fingerprint256));
  if (kept.length === 0) throw new Error('removing that CA would leave the trust bundle empty');
  return write(kept);
}

/** Whether `bundle` trusts certificates issued by `ca` (holds its certificate). */
export function bundleHolds(bundle: string, ca: string): boolean {
  const have = new Set(bundleEntries(bundle).map((e) => e.fingerprint256));
  return bundleEntries(ca).every((e) => have.has(e.fingerprint256));
}
