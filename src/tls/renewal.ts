// When to renew a certificate: once two thirds of its lifetime have passed (as cert-manager
// does by default), so a renewal that fails has the last third to be retried before anything
// breaks. Pure: the caller passes the clock.
export const RENEW_AT_FRACTION = 2 / 3;

export type Lifetime = { notBefore: Date; notAfter: Date };

/** The instant from which `cert` should be replaced. */
export function renewalTime(cert: Lifetime, fraction = RENEW_AT_FRACTION): Date {
  if (!(fraction > 0 && fraction <= 1))
    throw new Error(`renewal fraction must be in (0, 1], got ${fraction}`);
  const start = cert.notBefore.getTime();
  return new Date(start + (cert.notAfter.getTime() - start) * fraction);
}

/**
 * Whether `cert` should be renewed at `now` (also once it has expired). A certificate not valid
 * yet is not due: issued by a clock ahead of this one, a new one would be no better.
 */
export function shouldRenew(cert: Lifetime, now: Date, fraction = RENEW_AT_FRACTION): boolean {
  return now.getTime() >= renewalTime(cert, fraction).getTime();
}
