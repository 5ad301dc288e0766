import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { stat } from 'node:fs';
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
    // setImmediate too: the wait reads pending I/O in one before it answers.
    beforeEach(() =>
      vi.useFakeTimers({
        toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'Date'],
      }),
    );
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
      // the poll at 1100 ms, and the pending I/O read after it
      await vi.advanceTimersByTimeAsync(101);
      expect(doneAt).toBeGreaterThanOrEqual(1000);
      expect(doneAt).toBeLessThanOrEqual(1101);
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

  // Real time and a real pipe: after this process was busy in an I/O callback, the event loop
  // runs the timers that fell due before it reads the sockets again, so a poll would see a
  // silence the active never kept.
  it("does not report its own stall as the active's silence", async () => {
    const heartbeats = spawn(process.execPath, ['-e', 'setInterval(() => process.stdout.write("."), 100)'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      let lastHeard = Date.now();
      heartbeats.stdout.on('data', () => (lastHeard = Date.now()));
      await new Promise((r) => heartbeats.stdout.once('data', r));
      let answered = false;
      const wait = waitForPeerSilence(
        source('standby', () => (Date.now() - lastHeard) / 1000),
        500,
        2000,
        new EventEmitter(),
      ).then(() => (answered = true));
      // Right after a heartbeat (the pipe is drained), busy for 700 ms in the callback of other
      // I/O, while the next heartbeats queue up unread.
      await new Promise((r) => heartbeats.stdout.once('data', r));
      await new Promise<void>((r) =>
        stat(process.execPath, () => {
          const until = Date.now() + 700;
          while (Date.now() < until);
          r();
        }),
      );
      await new Promise((r) => setTimeout(r, 300));
      expect(answered).toBe(false);
      await wait;
      // It still answers when the wait ends: it did not hang.
      expect(answered).toBe(true);
    } finally {
      heartbeats.kill();
    }
  });
});
