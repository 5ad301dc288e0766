// The expiry index of the ledger: the sweep touches only leases that are due, and expires exactly
// the leases a walk over all of them would.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ExpiryQueue } from '../../../src/license-server/expiry-queue.ts';
import { Ledger } from '../../../src/license-server/ledger.ts';
import type { FeatureConfig } from '../../../src/license-server/ledger.ts';

const WALL = Date.parse('2026-01-01T00:00:00Z');
const synth: FeatureConfig = {
  name: 'synth',
  seats: 1000,
  startMs: Date.parse('2024-01-01'),
  expiryMs: Date.parse('2099-01-01'),
  reserved: [],
  excludeUsers: [],
  excludeHosts: [],
  lingerMs: 300,
};

describe('ExpiryQueue', () => {
  it('gives back what is due, earliest first, and keeps the rest', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 1000 }), { maxLength: 200 }),
        fc.integer({ min: 0, max: 1000 }),
        (times, now) => {
          const q = new ExpiryQueue();
          times.forEach((t, i) => q.push(t, `l${i}`));
          const due = q.popDue(now);
          const expected = times
            .map((t, i) => [t, `l${i}`] as const)
            .filter(([t]) => t <= now)
            .sort((a, b) => a[0] - b[0]);
          expect(due.map((id) => times[Number(id.slice(1))])).toEqual(expected.map(([t]) => t));
          expect(q.size).toBe(times.length - expected.length);
          expect(q.popDue(now)).toEqual([]);
        },
      ),
    );
  });

  it('rebuilds from the live entries', () => {
    const q = new ExpiryQueue();
    for (let i = 0; i < 50; i++) q.push(i, `x${i}`);
    q.rebuild([
      [30, 'b'],
      [10, 'a'],
    ]);
    expect(q.size).toBe(2);
    expect(q.popDue(100)).toEqual(['a', 'b']);
  });
});

describe('ledger sweep with the expiry index', () => {
  type Step = { kind: 'checkout' | 'renew' | 'release' | 'sweep'; who: number; dt: number };
  const step = fc.record({
    kind: fc.constantFrom('checkout', 'renew', 'release', 'sweep'),
    who: fc.integer({ min: 0, max: 30 }),
    dt: fc.integer({ min: 0, max: 400 }),
  }) as fc.Arbitrary<Step>;

  it('expires exactly the leases whose time is up, however they were renewed or released', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 300 }), (steps) => {
        const l = new Ledger({ leaseTtlMs: 1000 });
        l.setFeatures([synth]);
        l.beginEpoch(1, 0);
        let now = 0;
        const ids = new Map<number, string>();
        for (const s of steps) {
          now += s.dt;
          const clientId = `c${s.who}`;
          if (s.kind === 'checkout') {
            const r = l.checkout({ feature: 'synth', count: 1, clientId, user: 'u', host: 'h' }, now, WALL);
            if (r.ok) ids.set(s.who, r.lease.id);
          } else if (s.kind === 'renew' && ids.has(s.who)) l.renew(ids.get(s.who)!, clientId, now);
          else if (s.kind === 'release' && ids.has(s.who)) l.release(ids.get(s.who)!, clientId, now);
          else if (s.kind === 'sweep') {
            const due = l
              .state()
              .leases.filter((x) => x.expiresAt <= now)
              .map((x) => x.id)
              .sort();
            const expired = l
              .sweep(now)
              .map((e) => (e.op as { id: string }).id)
              .sort();
            expect(expired).toEqual(due);
            expect(l.state().leases.every((x) => x.expiresAt > now)).toBe(true);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
