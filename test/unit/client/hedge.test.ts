// Hedged attempts on a clock the test moves: which attempts start when, and which outcome wins.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { hedgedAttempt } from '../../../src/client/hedge.ts';
import type { Clock, Outcome } from '../../../src/client/retry-policy.ts';

const clock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};
const answer = (status: number): Outcome => ({ kind: 'answer', status, body: {} });
const timedOut: Outcome = { kind: 'failure', code: 'ETIMEDOUT', message: 'timed out', sent: true };
const refused: Outcome = { kind: 'failure', code: 'ECONNREFUSED', message: 'refused', sent: false };

/** Attempts that end as `plan(i)` says: after `ms` (capped by the attempt's timeout) with `outcome`. */
function attempts(plan: (i: number) => { ms: number; outcome: Outcome } | 'hang') {
  const started: { at: number; timeoutMs: number }[] = [];
  const fn = (timeoutMs: number): Promise<Outcome> => {
    const i = started.length;
    started.push({ at: Date.now(), timeoutMs });
    const p = plan(i);
    const ms = p === 'hang' ? timeoutMs : Math.min(p.ms, timeoutMs);
    const outcome = p === 'hang' || p.ms > timeoutMs ? timedOut : p.outcome;
    return new Promise((resolve) => setTimeout(() => resolve(outcome), ms));
  };
  return { fn, started };
}

describe('hedgedAttempt', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(0);
  });
  afterEach(() => vi.useRealTimers());

  it('an attempt answered in time is the only one', async () => {
    const a = attempts(() => ({ ms: 50, outcome: answer(200) }));
    const hedges: number[] = [];
    const r = hedgedAttempt(a.fn, 2000, { hedgeAfterMs: 300, maxInFlight: 4 }, clock, (n) => hedges.push(n));
    await vi.advanceTimersByTimeAsync(60);
    await expect(r).resolves.toEqual(answer(200));
    expect(a.started).toEqual([{ at: 0, timeoutMs: 2000 }]);
    expect(hedges).toEqual([]);
  });

  it('a hung member: a hedge every interval, each with what is left of the timeout; the first answer wins', async () => {
    // the first three land on the hung member; the Service has moved when the fourth starts
    const a = attempts((i) => (i < 3 ? 'hang' : { ms: 20, outcome: answer(200) }));
    const hedges: number[] = [];
    const r = hedgedAttempt(a.fn, 2000, { hedgeAfterMs: 300, maxInFlight: 4 }, clock, (n) => hedges.push(n));
    await vi.advanceTimersByTimeAsync(950);
    await expect(r).resolves.toEqual(answer(200));
    expect(a.started).toEqual([
      { at: 0, timeoutMs: 2000 },
      { at: 300, timeoutMs: 1700 },
      { at: 600, timeoutMs: 1400 },
      { at: 900, timeoutMs: 1100 },
    ]);
    expect(hedges).toEqual([1, 2, 3]);
  });

  it('never more than maxInFlight at once, and no hedge too close to the deadline', async () => {
    const a = attempts(() => 'hang');
    const r = hedgedAttempt(a.fn, 1000, { hedgeAfterMs: 300, maxInFlight: 3 }, clock, () => undefined);
    await vi.advanceTimersByTimeAsync(1000);
    await expect(r).resolves.toEqual(timedOut);
    // 0, 300, 600 (the cap); the one due at 900 would have had less than 100 ms anyway
    expect(a.started.map((s) => s.at)).toEqual([0, 300, 600]);
  });

  it('a failure waits for the others; once all have failed, the last failure is the outcome', async () => {
    const a = attempts((i) => (i === 0 ? 'hang' : { ms: 10, outcome: refused }));
    const r = hedgedAttempt(a.fn, 1000, { hedgeAfterMs: 400, maxInFlight: 4 }, clock, () => undefined);
    let settled = false;
    void r.then(() => (settled = true));
    await vi.advanceTimersByTimeAsync(450); // the hedge was refused; the first still runs
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(600);
    await expect(r).resolves.toEqual(timedOut);
    expect(a.started.map((s) => s.at)).toEqual([0, 400, 800]);
  });

  it('an attempt refused at once is not hedged: the caller retries it as before', async () => {
    const a = attempts(() => ({ ms: 5, outcome: refused }));
    const r = hedgedAttempt(a.fn, 2000, { hedgeAfterMs: 300, maxInFlight: 4 }, clock, () => undefined);
    await vi.advanceTimersByTimeAsync(10);
    await expect(r).resolves.toEqual(refused);
    expect(a.started).toHaveLength(1);
  });

  it('an error answer wins as an answer does (a NOT_ACTIVE names the live member)', async () => {
    const a = attempts((i) => (i === 0 ? 'hang' : { ms: 5, outcome: answer(503) }));
    const r = hedgedAttempt(a.fn, 2000, { hedgeAfterMs: 300, maxInFlight: 4 }, clock, () => undefined);
    await vi.advanceTimersByTimeAsync(310);
    await expect(r).resolves.toEqual(answer(503));
  });
});
