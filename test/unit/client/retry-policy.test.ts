// The client's retry policy on a fake clock: what is retried and what is not, where the next
// attempt goes, how long it waits, and that a call never outlives its budget.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  LeaseLostError,
  LicenseRefusedError,
  LicenseUnavailableError,
  NoSeatError,
} from '../../../src/client/errors.ts';
import {
  MIN_ATTEMPT_MS,
  Route,
  backoffMs,
  classify,
  renewDelayMs,
  runCall,
} from '../../../src/client/retry-policy.ts';
import type {
  AttemptFn,
  LeaseCall,
  Outcome,
  RetryEvent,
  RetryOptions,
} from '../../../src/client/retry-policy.ts';

const A = 'http://a:7070';
const B = 'http://b:7070';
const SVC = 'http://svc:7070';

const checkout: LeaseCall = { op: 'checkout', feature: 'synth' };
const renew: LeaseCall = { op: 'renew', leaseId: '3-12' };
const release: LeaseCall = { op: 'release', leaseId: '3-12' };

const lease = { lease: { id: '3-12', feature: 'synth' } };
const ok: Outcome = { kind: 'answer', status: 200, body: lease };
const answer = (status: number, code: string, message = 'm', active?: string | null): Outcome => ({
  kind: 'answer',
  status,
  body: { code, message, ...(active !== undefined ? { active } : {}) },
});
const refused: Outcome = {
  kind: 'failure',
  code: 'ECONNREFUSED',
  message: 'connect ECONNREFUSED 10.0.0.1:7070',
  sent: false,
};
const timedOut: Outcome = {
  kind: 'failure',
  code: 'ETIMEDOUT',
  message: 'no answer within 2000 ms',
  sent: true,
};
const noQuorum = answer(503, 'NO_QUORUM', 'the standby has not acknowledged the change within 500 ms');

const opts: RetryOptions = { budgetMs: 5000, attemptTimeoutMs: 2000, backoffBaseMs: 100, backoffMaxMs: 1000 };

class FakeClock {
  t = 0;
  readonly slept: number[] = [];
  now(): number {
    return this.t;
  }
  sleep(ms: number): Promise<void> {
    this.slept.push(ms);
    this.t += ms;
    return Promise.resolve();
  }
}

type Step = { outcome: Outcome; tookMs?: number };

/** An attempt function that plays `steps` in order (the last one repeats) and records each attempt. */
function script(clock: FakeClock, steps: Step[]) {
  const attempts: { address: string; timeoutMs: number; at: number }[] = [];
  const fn: AttemptFn = (address, timeoutMs) => {
    attempts.push({ address, timeoutMs, at: clock.t });
    const s = steps[Math.min(attempts.length - 1, steps.length - 1)] as Step;
    clock.t += Math.min(s.tookMs ?? 1, timeoutMs);
    return Promise.resolve(s.outcome);
  };
  return { fn, attempts };
}

async function run(
  call: LeaseCall,
  steps: Step[],
  o: { route?: Route; options?: RetryOptions; random?: () => number } = {},
) {
  const clock = new FakeClock();
  const { fn, attempts } = script(clock, steps);
  const events: RetryEvent[] = [];
  const dropped: string[] = [];
  const route = o.route ?? new Route([SVC]);
  const result = await runCall(call, fn, route, o.options ?? opts, clock, o.random ?? (() => 0.5), {
    onEvent: (e) => events.push(e),
    onRetryable: (a) => dropped.push(a),
  }).then(
    (body): { body?: Record<string, unknown>; error?: unknown } => ({ body }),
    (error: unknown): { body?: Record<string, unknown>; error?: unknown } => ({ error }),
  );
  return { ...result, clock, attempts, events, dropped, route };
}

describe('classify', () => {
  it('a success is done; a 2xx that is not a licence server answer is retried', () => {
    expect(classify(checkout, ok, false)).toMatchObject({ kind: 'done', body: lease });
    expect(classify(release, { kind: 'answer', status: 200, body: { released: true } }, false).kind).toBe(
      'done',
    );
    expect(classify(renew, { kind: 'answer', status: 200, body: '<html>' }, false).kind).toBe('retry');
  });

  it.each([
    ['checkout', checkout, 409, 'NO_SEATS', NoSeatError],
    ['checkout', checkout, 409, 'USER_LIMIT', NoSeatError],
    ['checkout', checkout, 409, 'HOST_LIMIT', NoSeatError],
    ['checkout', checkout, 404, 'UNKNOWN_FEATURE', LicenseRefusedError],
    ['checkout', checkout, 403, 'EXCLUDED', LicenseRefusedError],
    ['checkout', checkout, 403, 'LICENSE_EXPIRED', LicenseRefusedError],
    ['checkout', checkout, 400, 'BAD_REQUEST', LicenseRefusedError],
    ['checkout', checkout, 401, 'UNAUTHORIZED', LicenseRefusedError],
    ['renew', renew, 404, 'LEASE_NOT_FOUND', LeaseLostError],
    ['renew', renew, 410, 'LEASE_EXPIRED', LeaseLostError],
    ['release', release, 404, 'LEASE_NOT_FOUND', LeaseLostError],
  ] as const)('%s answered %i %s is definitive: %s', (_n, call, status, code, cls) => {
    const v = classify(call, answer(status, code, 'what the server said'), false);
    expect(v.kind).toBe('final');
    const err = (v as { error: Error }).error;
    expect(err).toBeInstanceOf(cls);
    expect(err.message).toContain(code);
    expect(err.message).toContain('what the server said');
  });

  it('retries NOT_ACTIVE, NO_QUORUM, 5xx, 408 and failures to connect or answer', () => {
    for (const o of [
      answer(503, 'NOT_ACTIVE', 'standby', B),
      noQuorum,
      answer(500, 'INTERNAL'),
      answer(503, 'TIMEOUT'),
      answer(408, 'TIMEOUT'),
      { kind: 'answer', status: 502, body: undefined } as Outcome,
      refused,
      timedOut,
      { kind: 'failure', code: 'ECONNRESET', message: 'socket hang up', sent: true } as Outcome,
    ])
      expect(classify(checkout, o, false).kind).toBe('retry');
    expect(classify(checkout, answer(503, 'NOT_ACTIVE', 'standby', B), false)).toMatchObject({
      active: B,
      notServing: true,
      mayHaveLanded: false,
    });
    expect(classify(checkout, answer(503, 'NOT_ACTIVE', 'standby', null), false)).toMatchObject({
      active: undefined,
    });
    expect(classify(checkout, noQuorum, false)).toMatchObject({ notServing: true, mayHaveLanded: true });
    expect(classify(checkout, refused, false)).toMatchObject({ mayHaveLanded: false });
    expect(classify(checkout, timedOut, false)).toMatchObject({ mayHaveLanded: true });
  });

  it('a release that finds no lease after an attempt that may have been carried out has succeeded', () => {
    expect(classify(release, answer(404, 'LEASE_NOT_FOUND'), true)).toMatchObject({
      kind: 'done',
      body: { released: true, leaseId: '3-12' },
    });
    // a renewal is never "done" by a missing lease
    expect(classify(renew, answer(404, 'LEASE_NOT_FOUND'), true).kind).toBe('final');
  });
});

describe('backoff and renewal timing', () => {
  it('doubles from the base up to the cap, each wait drawn from [b/2, b]', () => {
    const o = { backoffBaseMs: 100, backoffMaxMs: 1000 };
    expect([0, 1, 2, 3, 4, 10].map((n) => backoffMs(n, o, () => 0))).toEqual([50, 100, 200, 400, 500, 500]);
    expect([0, 1, 2, 3, 4, 10].map((n) => backoffMs(n, o, () => 1))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
    fc.assert(
      fc.property(fc.nat(40), fc.double({ min: 0, max: 1, noNaN: true }), (n, r) => {
        const b = Math.min(1000, 100 * 2 ** n);
        const d = backoffMs(n, o, () => r);
        return d >= b / 2 && d <= b;
      }),
    );
  });

  it('renews at renewAfter, at most half of what is left, at least 50 ms', () => {
    expect(renewDelayMs({ renewAfterSeconds: 60, expiresInSeconds: 120 })).toBe(60_000);
    expect(renewDelayMs({ renewAfterSeconds: 60, expiresInSeconds: 30 })).toBe(15_000);
    expect(renewDelayMs({ renewAfterSeconds: 0, expiresInSeconds: 10 })).toBe(5_000);
    expect(renewDelayMs({ renewAfterSeconds: 0, expiresInSeconds: 0 })).toBe(50);
  });
});

describe('runCall', () => {
  it('retries the same call through refused connections and NO_QUORUM until it is done', async () => {
    const r = await run(renew, [
      { outcome: refused },
      { outcome: noQuorum, tookMs: 500 },
      { outcome: timedOut, tookMs: 5000 },
      { outcome: ok },
    ]);
    expect(r.body).toEqual(lease);
    expect(r.attempts).toHaveLength(4);
    expect(r.attempts.every((a) => a.address === SVC)).toBe(true);
    // every retryable outcome drops that address's connections
    expect(r.dropped).toEqual([SVC, SVC, SVC]);
    expect(r.events.filter((e) => e.type === 'retry').map((e) => (e as { error: string }).error)).toEqual([
      'connect ECONNREFUSED 10.0.0.1:7070',
      '503 NO_QUORUM: the standby has not acknowledged the change within 500 ms',
      'ETIMEDOUT: no answer within 2000 ms',
    ]);
  });

  it('does not retry a definitive answer', async () => {
    for (const [call, o, cls] of [
      [checkout, answer(409, 'NO_SEATS'), NoSeatError],
      [checkout, answer(404, 'UNKNOWN_FEATURE'), LicenseRefusedError],
      [renew, answer(410, 'LEASE_EXPIRED'), LeaseLostError],
      [checkout, answer(400, 'BAD_REQUEST'), LicenseRefusedError],
    ] as const) {
      const r = await run(call, [{ outcome: o }]);
      expect(r.error).toBeInstanceOf(cls);
      expect(r.attempts).toHaveLength(1);
      expect(r.clock.slept).toEqual([]);
      expect(r.dropped).toEqual([]);
    }
  });

  it('a denial after retries is still definitive (a checkout retried into NO_SEATS)', async () => {
    const r = await run(checkout, [
      { outcome: noQuorum },
      { outcome: answer(409, 'NO_SEATS', 'all 2 seats') },
    ]);
    expect(r.error).toBeInstanceOf(NoSeatError);
    expect(r.attempts).toHaveLength(2);
  });

  it('gives up when the budget is spent, with LicenseUnavailableError naming the last cause', async () => {
    const r = await run(checkout, [{ outcome: noQuorum, tookMs: 500 }]);
    const err = r.error as LicenseUnavailableError;
    expect(err).toBeInstanceOf(LicenseUnavailableError);
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.lastCause).toBe(
      `${SVC}: 503 NO_QUORUM: the standby has not acknowledged the change within 500 ms`,
    );
    expect(err.message).toMatch(
      /^no licence server did the checkout of synth within the retry budget of 5000 ms/,
    );
    expect(err.message).toContain('NO_QUORUM');
    expect(err.attempts).toBe(r.attempts.length);
    expect(err.attempts).toBeGreaterThan(3);
    expect(r.clock.t).toBeLessThanOrEqual(opts.budgetMs);
    expect(r.clock.t).toBeGreaterThan(opts.budgetMs - MIN_ATTEMPT_MS - 500);
  });

  it('clamps each attempt to the budget left and shortens the last wait so that a last attempt fits', async () => {
    const r = await run(checkout, [{ outcome: timedOut, tookMs: Infinity }], {
      options: { ...opts, budgetMs: 3000 },
      random: () => 1,
    });
    // 2000 ms attempt, 100 ms wait, then what is left (900 ms)
    expect(r.attempts.map((a) => [a.at, a.timeoutMs])).toEqual([
      [0, 2000],
      [2100, 900],
    ]);
    expect(r.clock.t).toBe(3000);
    expect(r.error).toBeInstanceOf(LicenseUnavailableError);

    const s = await run(checkout, [{ outcome: refused }], {
      options: { ...opts, budgetMs: 1000 },
      random: () => 1,
    });
    // attempts of 1 ms, refused: waits of 100 ms (a refusal does not back off further), the
    // last one cut to leave MIN_ATTEMPT_MS
    expect(s.clock.slept).toEqual([...Array<number>(8).fill(100), 1000 - 9 - 800 - MIN_ATTEMPT_MS]); // 9 attempts of 1 ms
    expect(s.attempts.at(-1)?.timeoutMs).toBe(MIN_ATTEMPT_MS);

    // a server that answered (or may have) is backed off from exponentially
    const u = await run(checkout, [{ outcome: answer(503, 'NOT_READY', 'starting') }], {
      options: { ...opts, budgetMs: 1000 },
      random: () => 1,
    });
    expect(u.clock.slept).toEqual([100, 200, 400, 1000 - 704 - MIN_ATTEMPT_MS]);
  });

  it('an attempt cut short by the budget does not hide the cause the attempts before it got', async () => {
    // the server refuses after waiting 500 ms for its standby; the last attempt has less than that
    const clock = new FakeClock();
    const fn: AttemptFn = (_address, timeoutMs) => {
      clock.t += Math.min(500, timeoutMs);
      return Promise.resolve(timeoutMs < 500 ? timedOut : noQuorum);
    };
    const err = await runCall(
      checkout,
      fn,
      new Route([SVC]),
      { ...opts, budgetMs: 1500 },
      clock,
      () => 0.5,
    ).catch((e: unknown) => e as LicenseUnavailableError);
    expect(err).toBeInstanceOf(LicenseUnavailableError);
    expect((err as LicenseUnavailableError).lastCause).toMatch(
      new RegExp(
        `^${SVC}: 503 NO_QUORUM: .* \\(the last attempt, cut short by the budget: ${SVC}: ETIMEDOUT`,
      ),
    );
  });

  it('ends even when attempts take no time at all and the budget leaves exactly one last attempt', async () => {
    const r = await run(checkout, [{ outcome: refused, tookMs: 0 }], {
      options: { ...opts, budgetMs: MIN_ATTEMPT_MS },
    });
    expect(r.error).toBeInstanceOf(LicenseUnavailableError);
    expect(r.attempts).toHaveLength(2);
  });

  it('follows the address a NOT_ACTIVE names at once, and keeps it for the next call', async () => {
    const route = new Route([SVC]);
    const r = await run(
      checkout,
      [{ outcome: answer(503, 'NOT_ACTIVE', 'standby', `${B}/`) }, { outcome: ok }],
      {
        route,
      },
    );
    expect(r.body).toEqual(lease);
    expect(r.attempts.map((a) => a.address)).toEqual([SVC, B]);
    expect(r.clock.slept).toEqual([]);
    expect(r.events[0]).toEqual({ type: 'redirect', from: SVC, to: B });
    expect(route.target).toBe(B);
    // B stops answering: back to the Service
    const again = await run(renew, [{ outcome: refused }, { outcome: ok }], { route });
    expect(again.attempts.map((a) => a.address)).toEqual([B, SVC]);
  });

  it('without an address, retries the Service at once on a new connection, then backs off', async () => {
    const r = await run(checkout, [
      {
        outcome: answer(
          503,
          'NOT_ACTIVE',
          'this member is standby and does not know the active member',
          null,
        ),
      },
      { outcome: answer(503, 'NOT_ACTIVE', 'x', null) },
      { outcome: ok },
    ]);
    expect(r.body).toEqual(lease);
    expect(r.attempts.map((a) => a.address)).toEqual([SVC, SVC, SVC]);
    expect(r.clock.slept).toEqual([75]); // the first retry at once, the second after a backoff
    expect(r.dropped).toEqual([SVC, SVC]);
  });

  it('a redirect to the member just promoted is followed at once, even late in a call', async () => {
    // the Service's standby names the demoted member (stale), which knows no active at first,
    // then names the promoted one
    const r = await run(renew, [
      { outcome: answer(503, 'NOT_ACTIVE', 'standby', A) },
      { outcome: answer(503, 'NOT_ACTIVE', 'standby', null) },
      { outcome: answer(503, 'NOT_ACTIVE', 'standby', A) },
      { outcome: answer(503, 'NOT_ACTIVE', 'standby', B) },
      { outcome: ok },
    ]);
    expect(r.attempts.map((a) => a.address)).toEqual([SVC, A, SVC, A, B]);
    expect(r.body).toEqual(lease);
    // one wait: before the second redirect to A; none before B
    expect(r.clock.slept).toHaveLength(1);
    expect(r.attempts[4]!.at).toBe(r.attempts[3]!.at + 1);
  });

  it('a redirect that cannot be reached is not followed again in the same call', async () => {
    const r = await run(checkout, [
      { outcome: answer(503, 'NOT_ACTIVE', 'standby', B) },
      { outcome: { kind: 'failure', code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND b', sent: false } },
      { outcome: answer(503, 'NOT_ACTIVE', 'standby', B) },
      { outcome: ok },
    ]);
    expect(r.attempts.map((a) => a.address)).toEqual([SVC, B, SVC, SVC]);
    expect(r.body).toEqual(lease);
  });

  it('tries the configured members in turn; a redirect to one of them moves the turn there', async () => {
    const r = await run(checkout, [{ outcome: refused }, { outcome: refused }, { outcome: ok }], {
      route: new Route([A, B]),
    });
    expect(r.attempts.map((a) => a.address)).toEqual([A, B, A]);
    const route = new Route([A, B]);
    const s = await run(checkout, [{ outcome: answer(503, 'NOT_ACTIVE', 's', B) }, { outcome: ok }], {
      route,
    });
    expect(s.attempts.map((a) => a.address)).toEqual([A, B]);
    expect(route.target).toBe(B);
  });

  it('two standbys naming each other do not loop without waiting', async () => {
    const r = await run(
      checkout,
      [
        { outcome: answer(503, 'NOT_ACTIVE', 's', B) },
        { outcome: answer(503, 'NOT_ACTIVE', 's', A) },
        { outcome: answer(503, 'NOT_ACTIVE', 's', B) },
        { outcome: answer(503, 'NOT_ACTIVE', 's', A) },
        { outcome: ok },
      ],
      { route: new Route([A, B]) },
    );
    expect(r.attempts.map((a) => a.address)).toEqual([A, B, A, B, A]);
    expect(r.clock.slept).toHaveLength(2); // a redirect to an address already followed waits
  });

  it('a release repeated after a timeout that finds no lease is done; after a refused connection it is lost', async () => {
    const r = await run(release, [{ outcome: timedOut }, { outcome: answer(404, 'LEASE_NOT_FOUND') }]);
    expect(r.body).toEqual({ released: true, leaseId: '3-12' });
    const s = await run(release, [{ outcome: refused }, { outcome: answer(404, 'LEASE_NOT_FOUND') }]);
    expect(s.error).toBeInstanceOf(LeaseLostError);
    const t = await run(release, [
      { outcome: answer(503, 'NOT_ACTIVE', 's', null) },
      { outcome: answer(404, 'LEASE_NOT_FOUND') },
    ]);
    expect(t.error).toBeInstanceOf(LeaseLostError);
  });

  it('property: whatever the retryable outcomes and their durations, a call ends within its budget', async () => {
    const retryable = fc.constantFrom<Outcome>(
      refused,
      timedOut,
      noQuorum,
      answer(503, 'NOT_ACTIVE', 's', B),
      answer(503, 'NOT_ACTIVE', 's', null),
      answer(500, 'INTERNAL'),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ outcome: retryable, tookMs: fc.oneof(fc.constant(0), fc.nat(5000)) }), {
          minLength: 1,
          maxLength: 30,
        }),
        fc.integer({ min: 1, max: 20_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        async (steps, budgetMs, r) => {
          const res = await run(checkout, steps, {
            route: new Route([A, B]),
            options: { ...opts, budgetMs },
            random: () => r,
          });
          expect(res.error).toBeInstanceOf(LicenseUnavailableError);
          expect(res.clock.t).toBeLessThanOrEqual(Math.max(budgetMs, 1));
          expect(res.dropped).toHaveLength(res.attempts.length);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
