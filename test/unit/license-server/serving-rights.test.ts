// The member's serving rules (docs/reliability.md, R1-R5): pure functions, table-tested, and the
// guard that makes lease changes wait for them, with fake time.
import { spawn } from 'node:child_process';
import { stat } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  AnchorBook,
  DRIFT_RATIO,
  MARGIN_MS,
  becameActive,
  bindsUntil,
  granted,
  mayAcknowledge,
  peerAcked,
  promised,
  promiseLengthMs,
  promotionWaitMs,
  rightAt,
  rightUntil,
  standbyStarted,
  UNANNOUNCED_PROMISE_MS,
  withoutPeerMs,
} from '../../../src/license-server/serving-rights.ts';
import type { ActiveRights, RightsPolicy } from '../../../src/license-server/serving-rights.ts';
import { ServingGuard } from '../../../src/license-server/serving.ts';

const P: RightsPolicy = { paired: true, peerPromiseMs: 1000 };

describe('promises and rights', () => {
  it('a right is worth less than the promise, and the promiser is bound longer than the right', () => {
    expect(rightUntil(0, 1000)).toBe(1000 * (1 - DRIFT_RATIO) - MARGIN_MS);
    expect(bindsUntil(0, 1000)).toBe(1000 * (1 + DRIFT_RATIO) + MARGIN_MS);
    // with rates 2 % apart in the worst direction the right still ends first in real time
    const rightReal = rightUntil(0, 1000) / 0.98;
    expect(rightReal).toBeLessThan(1000 / 1.02);
  });

  it('anchors: numbered send times; unknown, future and forgotten numbers have none', () => {
    const book = new AnchorBook(4);
    const ns = [10, 20, 30, 40, 50].map((t) => book.issue(t));
    expect(ns).toEqual([1, 2, 3, 4, 5]);
    expect(book.sentAt(5)).toBe(50);
    expect(book.sentAt(2)).toBe(20);
    expect(book.sentAt(1)).toBeUndefined(); // overwritten
    expect(book.sentAt(6)).toBeUndefined(); // not issued yet
    expect(book.sentAt(0)).toBeUndefined();
    expect(book.sentAt(2.5)).toBeUndefined();
  });
});

type Row = {
  name: string;
  rights: (r: ActiveRights) => ActiveRights;
  now: number;
  policy?: Partial<RightsPolicy>;
  q?: { mode: 'sync' | 'async'; seq: number; ackedSeq: number };
  right: ReturnType<typeof rightAt>;
  ack: true | 'NO_RIGHT' | 'NOT_REPLICATED';
};

const base = becameActive(3, 0);
const acked = (anchorAt: number) => (r: ActiveRights) => peerAcked(r, anchorAt, P);
const alone = (anchorAt: number, ms: number) => (r: ActiveRights) => {
  const g = granted(r, { epoch: 3, anchorAt, ms });
  if (!g.ok) throw new Error(g.message);
  return g.rights;
};
const sync = (seq: number, ackedSeq: number) => ({ mode: 'sync' as const, seq, ackedSeq });

// R4, row by row: which right a member holds, and whether it may acknowledge a change.
const rows: Row[] = [
  {
    name: 'no peer configured: a single server always grants',
    rights: (r) => r,
    now: 5,
    policy: { paired: false },
    q: sync(9, 0),
    right: 'unpaired',
    ack: true,
  },
  {
    name: 'just promoted, nothing acknowledged: no right',
    rights: (r) => r,
    now: 5,
    q: sync(1, 0),
    right: 'none',
    ack: 'NO_RIGHT',
  },
  {
    name: 'peer promise, change acknowledged: grant',
    rights: acked(100),
    now: 500,
    q: sync(7, 7),
    right: 'peer',
    ack: true,
  },
  {
    name: 'peer promise, change not yet acknowledged (sync): wait',
    rights: acked(100),
    now: 500,
    q: sync(8, 7),
    right: 'peer',
    ack: 'NOT_REPLICATED',
  },
  {
    name: 'peer promise, change not yet acknowledged (async): grant',
    rights: acked(100),
    now: 500,
    q: { mode: 'async', seq: 8, ackedSeq: 7 },
    right: 'peer',
    ack: true,
  },
  {
    name: 'peer promise expired: no right, even for an acknowledged change',
    rights: acked(100),
    now: 100 + rightUntil(0, 1000),
    q: sync(7, 7),
    right: 'none',
    ack: 'NO_RIGHT',
  },
  {
    name: 'one ms before the peer promise expires: still a right',
    rights: acked(100),
    now: 99 + rightUntil(0, 1000),
    q: sync(7, 7),
    right: 'peer',
    ack: true,
  },
  {
    name: 'solo grant: grant without the standby (sync)',
    rights: alone(100, 6000),
    now: 3000,
    q: sync(9, 2),
    right: 'alone',
    ack: true,
  },
  {
    name: 'solo grant expired, no peer: no right',
    rights: alone(100, 6000),
    now: 100 + rightUntil(0, 6000),
    q: sync(9, 2),
    right: 'none',
    ack: 'NO_RIGHT',
  },
  {
    name: 'solo grant and peer promise: named alone, grants unacknowledged changes',
    rights: (r) => alone(0, 6000)(acked(0)(r)),
    now: 300,
    q: sync(9, 2),
    right: 'alone',
    ack: true,
  },
  {
    name: 'solo grant expired, peer promise valid: back to acknowledged changes only',
    rights: (r) => alone(0, 1000)(acked(1000)(r)),
    now: 1500,
    q: sync(9, 2),
    right: 'peer',
    ack: 'NOT_REPLICATED',
  },
];

describe('R4: when an active member may acknowledge', () => {
  it.each(rows.map((r) => [r.name, r] as const))('%s', (_n, row) => {
    const policy = { ...P, ...row.policy };
    const r = row.rights(base);
    expect(rightAt(r, row.now, policy)).toBe(row.right);
    const v = mayAcknowledge(r, row.now, policy, row.q ?? sync(1, 1));
    expect(v.ok ? true : v.reason).toBe(row.ack);
  });

  it('an older acknowledgement never shortens the right', () => {
    const r = peerAcked(peerAcked(base, 500, P), 200, P);
    expect(r.peerUntil).toBe(rightUntil(500, 1000));
  });

  it('a grant for another epoch or an unknown anchor is refused and changes nothing', () => {
    expect(granted(base, { epoch: 2, anchorAt: 0, ms: 1000 })).toMatchObject({
      ok: false,
      code: 'STALE_EPOCH',
    });
    expect(granted(base, { epoch: 3, anchorAt: undefined, ms: 1000 })).toMatchObject({
      ok: false,
      code: 'UNKNOWN_ANCHOR',
    });
  });

  it('R6: a grant of 0 ms ends the grants at once, and voids a grant still on its way (anchored at or before it)', () => {
    const alone = (granted(base, { epoch: 3, anchorAt: 100, ms: 20_000 }) as { rights: ActiveRights }).rights;
    expect(rightAt(alone, 200, P)).toBe('alone');
    const ended = (granted(alone, { epoch: 3, anchorAt: 300, ms: 0 }) as { rights: ActiveRights }).rights;
    expect(rightAt(ended, 301, { ...P, peerPromiseMs: 1000 })).toBe('none');
    // A renewal sent before the end (anchored at an earlier answer, or the same one) arrives late.
    for (const anchorAt of [250, 300]) {
      const late = granted(ended, { epoch: 3, anchorAt, ms: 20_000 }) as { rights: ActiveRights };
      expect(late.rights.aloneUntil, `anchored at ${anchorAt}`).toBe(-Infinity);
    }
    // A new solo period (anchored at a later answer) grants again.
    const again = granted(ended, { epoch: 3, anchorAt: 400, ms: 20_000 }) as { rights: ActiveRights };
    expect(rightAt(again.rights, 500, P)).toBe('alone');
    // The end is for one epoch too.
    expect(granted(alone, { epoch: 2, anchorAt: 300, ms: 0 })).toMatchObject({
      ok: false,
      code: 'STALE_EPOCH',
    });
  });

  it('time without the peer: from promotion, then from when the promise lapsed', () => {
    expect(withoutPeerMs(base, 700)).toBe(700);
    const r = peerAcked(base, 1000, P);
    expect(withoutPeerMs(r, 1500)).toBe(0);
    expect(withoutPeerMs(r, r.peerUntil + 300)).toBe(300);
  });
});

describe('R1/R5: the standby keeps its promise before it becomes active', () => {
  it('waits out its last acknowledgement, or a start (it may have promised before a crash)', () => {
    let s = standbyStarted(0, P);
    expect(promotionWaitMs(s, 0, false)).toBe(1000);
    expect(promotionWaitMs(s, 1000, false)).toBe(0);
    s = promised(s, 5000, 1000);
    expect(promotionWaitMs(s, 5400, false)).toBe(600);
    expect(promotionWaitMs(s, 5400, true)).toBe(0); // the peer confirmed it stepped down
    expect(promised(s, 4000, 1000)).toBe(s); // an earlier send never shortens the promise
  });

  it('promises the longer of its own P and the one its active counts with (unannounced: 1000 ms)', () => {
    expect(promiseLengthMs(500, 500)).toBe(500);
    expect(promiseLengthMs(500, 1000)).toBe(1000); // an active still on the longer P
    expect(promiseLengthMs(1000, 500)).toBe(1000);
    expect(promiseLengthMs(500, undefined)).toBe(UNANNOUNCED_PROMISE_MS); // an active that does not say
    for (const garbage of [Number.NaN, -5, 0, Infinity]) expect(promiseLengthMs(500, garbage)).toBe(1000);
    expect(promiseLengthMs(3000, undefined)).toBe(3000);
  });

  it('a standby with a short P that starts waits the unannounced promise out (its previous process may have made it)', () => {
    const s = standbyStarted(0, { paired: true, peerPromiseMs: 500 });
    expect(promotionWaitMs(s, 0, false)).toBe(1000);
    // once it has heard its active's P, later promises are as long as that
    const later = promised(s, 2000, promiseLengthMs(500, 500));
    expect(promotionWaitMs(later, 2000, false)).toBe(500);
  });
});

describe('the serving guard (fake time)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });
  const guard = (over: Partial<ConstructorParameters<typeof ServingGuard>[0]> = {}) => {
    vi.useFakeTimers();
    const timeouts: string[] = [];
    const g = new ServingGuard({
      ...P,
      mode: 'sync',
      syncTimeoutMs: 500,
      now: () => Date.now(),
      onTimeout: (v) => timeouts.push(v.reason),
      ...over,
    });
    return { g, timeouts };
  };

  it('a change waits for its acknowledgement, then goes; one not acknowledged in time is refused', async () => {
    const { g, timeouts } = guard();
    const t0 = Date.now();
    g.becomeActive(1, 0);
    g.acked(0, t0);
    const first = g.acknowledge(1);
    const second = g.acknowledge(2);
    let settled = 0;
    void first.then(() => (settled += 1));
    await vi.advanceTimersByTimeAsync(100);
    expect(settled).toBe(0);
    g.acked(1, t0 + 100);
    expect(await first).toEqual({ ok: true, by: 'peer' });
    await vi.advanceTimersByTimeAsync(500);
    expect(await second).toMatchObject({ ok: false, reason: 'NOT_REPLICATED' });
    expect(timeouts).toEqual(['NOT_REPLICATED']);
  });

  it('before a change: waits for a right to appear (a grant) or refuses after the sync timeout', async () => {
    const { g } = guard();
    g.becomeActive(4, 0);
    const refused = g.whenServing();
    // the deadline, then the pending I/O read before it is judged
    await vi.advanceTimersByTimeAsync(501);
    expect(await refused).toMatchObject({ ok: false, reason: 'NO_RIGHT' });
    const waiting = g.whenServing();
    await vi.advanceTimersByTimeAsync(200);
    const anchor = g.status().anchor;
    expect(g.grant({ epoch: 4, anchor, ms: 6000 })).toEqual({ ok: true });
    expect(await waiting).toEqual({ ok: true, by: 'alone' });
    expect(g.status()).toMatchObject({ right: 'alone', mayGrant: true });
    expect(g.grant({ epoch: 5, anchor, ms: 6000 })).toMatchObject({ ok: false, code: 'STALE_EPOCH' });
  });

  it('stepping down refuses every waiting change; a standby reports the promise it keeps', async () => {
    const { g } = guard();
    g.becomeActive(1, 0);
    g.acked(0, Date.now());
    const w = g.acknowledge(3);
    g.becomeStandby();
    expect(await w).toMatchObject({ ok: false, reason: 'NO_RIGHT' });
    g.promisedPeer();
    await vi.advanceTimersByTimeAsync(400);
    expect(g.status()).toMatchObject({ right: 'standby', mayGrant: false, promiseSeconds: 0.6 });
    expect(g.promotionWaitMs(false)).toBe(600);
  });

  it('async mode acknowledges with the peer right alone, without waiting for the ack of the change', async () => {
    const { g } = guard({ mode: 'async' });
    g.becomeActive(1, 0);
    g.acked(0, Date.now());
    expect(await g.acknowledge(50)).toEqual({ ok: true, by: 'peer' });
  });
});

// Real time and a real pipe: after this process was busy in an I/O callback, the event loop runs
// the timers that fell due before it reads the sockets again. The standby's acknowledgement that
// arrived during the stall must count before the sync timeout is judged: a stall of the active
// is not the standby falling behind (which would make the pair serve alone for nothing).
describe('the serving guard (real time)', () => {
  it("does not refuse a change for its own stall when the standby's acknowledgement is waiting unread", async () => {
    const standby = spawn(
      process.execPath,
      ['-e', 'process.stdin.on("data", (d) => process.stdout.write(d))'],
      {
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    );
    try {
      standby.stdin.write('x');
      await new Promise((r) => standby.stdout.once('data', r));
      const timeouts: string[] = [];
      const g = new ServingGuard({
        ...P,
        mode: 'sync',
        syncTimeoutMs: 300,
        onTimeout: (v) => timeouts.push(v.reason),
      });
      g.becomeActive(1, 0);
      g.acked(0, performance.now());
      const change = g.acknowledge(1);
      let sentAt = 0;
      standby.stdout.on('data', () => g.acked(1, sentAt));
      // The change goes to the standby, which acknowledges it at once, while this process is busy
      // for twice the sync timeout.
      await new Promise<void>((r) =>
        stat(process.execPath, () => {
          sentAt = performance.now();
          standby.stdin.write('1');
          const until = Date.now() + 600;
          while (Date.now() < until);
          r();
        }),
      );
      expect(await change).toEqual({ ok: true, by: 'peer' });
      expect(timeouts).toEqual([]);
      // A change the standby never acknowledges is still refused at its deadline.
      expect(await g.acknowledge(2)).toMatchObject({ ok: false, reason: 'NOT_REPLICATED' });
      expect(timeouts).toEqual(['NOT_REPLICATED']);
    } finally {
      standby.kill();
    }
  });
});
