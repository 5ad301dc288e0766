// The validity window of a new certificate. notBefore is set a little in the past so that a
// member whose clock runs slightly behind the issuer's does not refuse a certificate just made:
// five minutes, or a tenth of a short lifetime (renewal is counted from notBefore, and a backdate
// longer than the lifetime would make a certificate due for renewal the moment it is issued).
export const BACKDATE_MS = 5 * 60_000;

export type ValidityRequest = {
  /** how long the certificate is valid from now */
  lifetimeMs: number;
  /** the issuer's clock (default: the system clock) */
  now?: Date;
};

export function validityWindow(v: ValidityRequest): { notBefore: Date; notAfter: Date } {
  if (!(v.lifetimeMs > 0)) throw new Error(`a certificate lifetime must be positive, got ${v.lifetimeMs} ms`);
  const now = (v.now ?? new Date()).getTime();
  const backdate = Math.min(BACKDATE_MS, v.lifetimeMs / 10);
  return { notBefore: new Date(now - backdate), notAfter: new Date(now + v.lifetimeMs) };
}

/** A random positive serial number of 16 bytes (RFC 5280 allows up to 20), as hex. */
export function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // positive as a DER INTEGER
  bytes[0] = (bytes[0] ?? 0) | 0x01; // and no leading zero byte to strip
  return Buffer.from(bytes).toString('hex');
}
