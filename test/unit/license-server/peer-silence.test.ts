import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { peerSilent, waitForPeerSilence } from '../../../src/license-server/peer-silence.ts';

const source = (role: string, seen: () => number | null) => ({ role: () => role, peerLastSeenSeconds: seen });

describe('the standby says when it lost its active', () => {
  it.each([
    ['standby', 0.6, 500, true],
    ['standby', 0.4, 500, false],
    ['standby', null, 500, false],
    ['standby', 120, 500, false], // gone long ago: not news
    ['active', 5, 500, false], // an active's silence is its standby's
  ] as const)('%s, last heard %s s ago, %i ms asked: %s', (role, seen, silentMs, silent) => {
    expect(
      peerSilent(
        source(role, () => seen),
        silentMs,
      ),
    ).toBe(silent);
  });

  describe('the wait', () => {
    beforeEach(() => vi.useFakeTimers());
    afterEach(() => vi.useRealTimers());

    it('answers at once when already silent', async () => {
      let done = false;
      void waitForPeerSilence(
        source('standby', () => 1),
        500,
        10_000,
        new EventEmitter(),
      ).then(() => (done = true));
      await vi.advanceTimersByTimeAsync(0);
      expect(done).toBe(true);
    });

    it('answers within a poll of the silence starting, not at the end of the wait', async () => {
      let seen = 0.1;
      let doneAt: number | undefined;
      const start = Date.now();
      void waitForPeerSilence(
        source('standby', () => seen),
        500,
        10_000,
        new EventEmitter(),
      ).then(() => (doneAt = Date.now() - start));
      await vi.advanceTimersByTimeAsync(1000);
      expect(doneAt).toBeUndefined();
      seen = 0.55;
      await vi.advanceTimersByTimeAsync(100);
      expect(doneAt).toBeGreaterThanOrEqual(1000);
      expect(doneAt).toBeLessThanOrEqual(1100);
    });

    it('answers after the wait when the active is heard throughout', async () => {
      let doneAt: number | undefined;
      const start = Date.now();
      void waitForPeerSilence(
        source('standby', () => 0.2),
        500,
        3000,
        new EventEmitter(),
      ).then(() => (doneAt = Date.now() - start));
      await vi.advanceTimersByTimeAsync(2999);
      expect(doneAt).toBeUndefined();
      await vi.advanceTimersByTimeAsync(1);
      expect(doneAt).toBe(3000);
    });

    it('ends when the caller goes away, and polls no more', async () => {
      const closed = new EventEmitter();
      const seen = vi.fn(() => 0.2);
      let done = false;
      void waitForPeerSilence(source('standby', seen), 500, 10_000, closed).then(() => (done = true));
      await vi.advanceTimersByTimeAsync(300);
      closed.emit('close');
      await vi.advanceTimersByTimeAsync(0);
      expect(done).toBe(true);
      const calls = seen.mock.calls.length;
      await vi.advanceTimersByTimeAsync(1000);
      expect(seen.mock.calls.length).toBe(calls);
    });
  });
});
