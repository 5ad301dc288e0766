import { describe, expect, it } from 'vitest';
import {
  EARLY_SILENT_MS,
  MIN_CONFIRM_MS,
  PEER_SILENT_SECONDS,
  confirmTimeoutMs,
  hungDetectionBoundMs,
  nextSilenceAsk,
  silentFaultBoundMs,
} from '../../../src/operator/detection.ts';

describe("detection: the standby's silence, then the operator's own check", () => {
  it('asks for two heartbeats of silence first, then for what the decision needs, then waits a period', () => {
    expect(nextSilenceAsk(undefined)).toBe(EARLY_SILENT_MS);
    expect(nextSilenceAsk(EARLY_SILENT_MS)).toBe(PEER_SILENT_SECONDS * 1000);
    expect(nextSilenceAsk(PEER_SILENT_SECONDS * 1000)).toBeUndefined();
    expect(EARLY_SILENT_MS).toBeLessThan(PEER_SILENT_SECONDS * 1000);
  });

  it.each([
    // the health check's timeout, the confirming check's
    [1000, 500],
    [2000, 1500],
    [5000, 4500],
    [600, MIN_CONFIRM_MS],
  ])('a %i ms check timeout: a confirming check of %i ms', (timeout, confirm) => {
    expect(confirmTimeoutMs(timeout)).toBe(confirm);
  });

  it('the early silence and the confirming check add up to the whole timeout (never less)', () => {
    for (const timeout of [1000, 1500, 2000, 7000, 30_000])
      expect(EARLY_SILENT_MS + confirmTimeoutMs(timeout)).toBe(timeout);
    expect(EARLY_SILENT_MS + confirmTimeoutMs(600)).toBeGreaterThan(600);
  });

  it("bounds a hung member's detection by the timeout (at least the decision's silence) and one poll", () => {
    expect(hungDetectionBoundMs(1000)).toBe(1100);
    expect(hungDetectionBoundMs(3000)).toBe(3100);
    expect(hungDetectionBoundMs(600)).toBe(PEER_SILENT_SECONDS * 1000 + 100);
  });

  it.each([
    // period s, timeout s, standby reads: bound ms
    [2, 1, false, 3100], // the default policy: the next check, one period away, times out
    [1, 1, false, 2100], // the aggressive one
    [10, 3, false, 13_100],
    [2, 1, true, 1100], // the standby's silence, whatever the period
    [1, 1, true, 1100],
    [10, 3, true, 3100], // a longer timeout still bounds the confirming check
  ] as const)(
    'a silent fault with checks every %i s timing out after %i s (standby reads %s): decided within %i ms',
    (periodSeconds, timeoutSeconds, standbyReads, bound) => {
      expect(silentFaultBoundMs({ periodSeconds, timeoutSeconds }, standbyReads)).toBe(bound);
    },
  );

  it('never bounds a silent fault below the silence the decision needs', () => {
    for (const standbyReads of [false, true])
      for (const periodSeconds of [1, 2, 5])
        for (const timeoutSeconds of [1, 2])
          expect(silentFaultBoundMs({ periodSeconds, timeoutSeconds }, standbyReads)).toBeGreaterThan(
            PEER_SILENT_SECONDS * 1000,
          );
  });
});
