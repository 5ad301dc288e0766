// Hedged attempts: one attempt of a lease call that has not been answered after `hedgeAfterMs` is
// joined by another on a new connection, and so on every `hedgeAfterMs`, up to `maxInFlight` at
// once; the first answer wins. A member that hangs holds the connections it has, but a new
// connection through the pair's Service reaches the member the Service selects once it has moved,
// so a call waits for the move plus at most one hedge interval instead of a whole attempt
// timeout. It is safe because every attempt is the same request (retry-policy.ts: a checkout is
// idempotent per client and feature, a renewal harmless twice, a repeated release succeeds). It
// costs a new connection per interval while the server is slow, so it is off unless asked for.
import type { Clock, Outcome } from './retry-policy.ts';

export type HedgeOptions = {
  /** join a still unanswered attempt with another after this long, and again after each interval */
  hedgeAfterMs: number;
  /** attempts of one call in flight at once, the first included */
  maxInFlight: number;
};

/** The shortest a hedge is given: one started later than this before the deadline is not worth it. */
const MIN_HEDGE_MS = 100;

/**
 * One attempt of a call, hedged: `attempt(timeoutMs)` is started now and again every
 * `hedgeAfterMs` while none has answered (each with what is left of `timeoutMs`); `hedging(n)` is
 * told before the n-th extra one starts (the caller retires kept-alive connections there). Resolves
 * with the first answer (any HTTP answer, or a certificate refusal), or with the last failure once
 * every attempt has failed.
 */
export async function hedgedAttempt(
  attempt: (timeoutMs: number) => Promise<Outcome>,
  timeoutMs: number,
  o: HedgeOptions,
  clock: Clock,
  hedging: (n: number) => void,
): Promise<Outcome> {
  const start = clock.now();
  const inFlight = new Map<number, Promise<{ i: number; outcome: Outcome }>>();
  let started = 0;
  const launch = (): void => {
    const i = started++;
    const left = Math.max(1, timeoutMs - (clock.now() - start));
    inFlight.set(
      i,
      attempt(left).then((outcome) => ({ i, outcome })),
    );
  };
  launch();
  let last: Outcome | undefined;
  for (;;) {
    const nextAt = started * o.hedgeAfterMs;
    const mayHedge = inFlight.size < o.maxInFlight && nextAt <= timeoutMs - MIN_HEDGE_MS;
    const waits: Promise<{ i: number; outcome: Outcome } | 'hedge'>[] = [...inFlight.values()];
    if (mayHedge)
      waits.push(clock.sleep(Math.max(0, start + nextAt - clock.now())).then(() => 'hedge' as const));
    const r = await Promise.race(waits);
    if (r === 'hedge') {
      hedging(started);
      launch();
      continue;
    }
    inFlight.delete(r.i);
    if (r.outcome.kind === 'answer' || r.outcome.tls) return r.outcome;
    last = r.outcome;
    if (inFlight.size === 0) return last;
  }
}
