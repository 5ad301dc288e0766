// When a member refuses what the operator last read from a Secret (a rotated admin token, a
// certificate from a CA not read yet), the Secret is read again soon, but not more often than
// once per `recheckMs`, however often the refusal repeats. Pure.

/**
 * After a refusal of what was read at `readAt`: forget the read now (the next reconcile reads the
 * Secret again) and come back after `recheckMs`, or, while the last read is younger than that,
 * come back when it is old enough.
 */
export function refusedRecheck(
  readAt: number,
  recheckMs: number,
  now: number,
): { forget: boolean; afterMs: number } {
  const wait = readAt + recheckMs - now;
  return wait > 0 ? { forget: false, afterMs: wait } : { forget: true, afterMs: recheckMs };
}
