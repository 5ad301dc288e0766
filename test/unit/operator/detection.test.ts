import { describe, expect, it } from 'vitest';
import {
  DEFAULT_PROMISE_MS,
  MIN_CONFIRM_MS,
  MIN_PROMISE_MS,
  confirmTimeoutMs,
  earlySilentMs,
  heartbeatMsFor,
  hungDetectionBoundMs,
  nextSilenceAsk,
  peerPromiseMsFor,
  peerSilentMs,
  silentFaultBoundMs,
} from '../../../src/operator/detection.ts';

describe('the promise P a pair is given follows its health-check timeout', () => {
  it.each([
    // timeout ms, P ms, heartbeat ms
    [1000, 1000, 250],
    [5000, 1000, 250], // a longer timeout gains nothing from a longer promise
    [800, 800, 200],
    [500, 500, 125],
    [250, MIN_PROMISE_MS, 100],
  ])('a %i ms timeout: P %i ms, a heartbeat every %i ms', (timeout, promise, heartbeat) => {
    expect(peerPromiseMsFor(timeout)).toBe(promise);
    expect(heartbeatMsFor(promise)).toBe(heartbeat);
    // the member's own rule: P at least twice the heartbeat (src/license-server/config.ts)
    expect(promise).toBeGreaterThanOrEqual(2 * heartbeat);
  });
});

describe("detection: the standby's silence, then the operator's own check", () => {
  it('asks for two heartbeats of silence first, then for what the decision needs (P), then waits a period', () => {
    for (const p of [DEFAULT_PROMISE_MS, 500]) {
      expect(nextSilenceAsk(undefined, p)).toBe(earlySilentMs(p));
      expect(nextSilenceAsk(earlySilentMs(p), p)).toBe(peerSilentMs(p));
      expect(nextSilenceAsk(peerSilentMs(p), p)).toBeUndefined();
      expect(earlySilentMs(p)).toBe(2 * heartbeatMsFor(p));
      expect(peerSilentMs(p)).toBe(p); // the promise has expired by the decision
    }
  });

  it.each([
    // the health check's timeout, the confirming check's
    [1000, 500],
    [2000, 1500],
    [5000, 4500],
    [600, 300],
    [500, MIN_CONFIRM_MS],
    [250, MIN_CONFIRM_MS],
  ])('a %i ms check timeout: a confirming check of %i ms', (timeout, confirm) => {
    expect(confirmTimeoutMs(timeout)).toBe(confirm);
  });

  it('the early silence and the confirming check add up to the whole timeout (never less)', () => {
    for (const timeout of [500, 600, 1000, 1500, 2000, 7000, 30_000])
      expect(earlySilentMs(peerPromiseMsFor(timeout)) + confirmTimeoutMs(timeout)).toBe(timeout);
    expect(earlySilentMs(peerPromiseMsFor(250)) + confirmTimeoutMs(250)).toBeGreaterThan(250);
  });

  it.each([
    // timeout ms, bound ms
    [1000, 1100],
    [3000, 3100],
    [600, 700],
    [500, 600],
    [250, 550], // the confirming check's floor, then the decision's silence (P = 400 ms)
  ])(
    "a %i ms timeout bounds a hung member's detection at %i ms (the timeout, at least P, and one poll)",
    (timeout, bound) => {
      expect(hungDetectionBoundMs(timeout)).toBe(bound);
      expect(hungDetectionBoundMs(timeout)).toBeGreaterThan(peerSilentMs(peerPromiseMsFor(timeout)));
    },
  );

  it.each([
    // period s, timeout ms, standby reads: bound ms
    [2, 1000, false, 3100], // the default policy: the next check, one period away, times out
    [1, 1000, false, 2100], // the aggressive one
    [10, 3000, false, 13_100],
    [2, 1000, true, 1100], // the standby's silence, whatever the period
    [1, 1000, true, 1100],
    [10, 3000, true, 3100], // a longer timeout still bounds the confirming check
    [1, 500, true, 600], // a sub-second timeout: a sub-second promise
    [1, 500, false, 1600],
  ] as const)(
    'a silent fault with checks every %i s timing out after %i ms (standby reads %s): decided within %i ms',
    (periodSeconds, timeoutMs, standbyReads, bound) => {
      expect(silentFaultBoundMs({ periodSeconds, timeoutMs }, standbyReads)).toBe(bound);
    },
  );

  it('never bounds a silent fault below the silence the decision needs', () => {
    for (const standbyReads of [false, true])
      for (const periodSeconds of [1, 2, 5])
        for (const timeoutMs of [250, 500, 1000, 2000])
          expect(silentFaultBoundMs({ periodSeconds, timeoutMs }, standbyReads)).toBeGreaterThan(
            peerSilentMs(peerPromiseMsFor(timeoutMs)),
          );
  });
});
