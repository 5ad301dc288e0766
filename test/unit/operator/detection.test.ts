import { describe, expect, it } from 'vitest';
import {
  EARLY_SILENT_MS,
  MIN_CONFIRM_MS,
  PEER_SILENT_SECONDS,
  confirmTimeoutMs,
  hungDetectionBoundMs,
  nextSilenceAsk,
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
});
