import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Ledger } from '../../../src/license-server/ledger.ts';
import type { FeatureConfig, LogEntry } from '../../../src/license-server/ledger.ts';

const WALL = Date.parse('2026-01-01T00:00:00Z');
const TTL = 10_000;

function feature(name: string, seats: number, extra: Partial<FeatureConfig> = {}): FeatureConfig {
  return {
    name,
    seats,
    startMs: Date.parse('2024-01-01'),
    expiryMs: Date.parse('2099-01-01'),
    reserved: [],
    excludeUsers: [],
    excludeHosts: [],
    lingerMs: 0,
    ...extra,
  };
}

function ledger(features: FeatureConfig[]): Ledger {
  const l = new Ledger({ leaseTtlMs: TTL });
  l.setFeatures(features);
  l.beginEpoch(1, 0);
  return l;
}

const req = (
  clientId: string,
  extra: Partial<{ feature: string; count: number; user: string; host: string }> = {},
) => ({
  feature: 'synth',
  count: 1,
  clientId,
  user: 'alice',
  host: 'ws1',
  ...extra,
});

describe('ledger: checkout and denials', () => {
  it('grants up to the seat count, then denies with NO_SEATS', () => {
    const l = ledger([feature('synth', 2)]);
    expect(l.checkout(req('a'), 0, WALL).ok).toBe(true);
    expect(l.checkout(req('b'), 0, WALL).ok).toBe(true);
    const r = l.checkout(req('c'), 0, WALL);
    expect(r).toMatchObject({ ok: false, code: 'NO_SEATS' });
    expect(l.inUse('synth')).toBe(2);
  });

  it('is idempotent per client and feature', () => {
    const l = ledger([feature('synth', 2)]);
    const a = l.checkout(req('a'), 0, WALL);
    const again = l.checkout(req('a'), 500, WALL);
    expect(a.ok && again.ok).toBe(true);
    if (!a.ok || !again.ok) return;
    expect(again.lease.id).toBe(a.lease.id);
    expect(again.existing).toBe(true);
    expect(again.lease.expiresAt).toBe(500 + TTL);
    expect(l.inUse('synth')).toBe(1);
  });

  it('has a fixed set of denial codes with clear messages', () => {
    const l = ledger([
      feature('synth', 5, { maxPerUser: 2, maxPerHost: 3, excludeUsers: ['mallory'], excludeHosts: ['bad'] }),
      feature('old', 5, { expiryMs: Date.parse('2025-06-30') }),
      feature('future', 5, { startMs: Date.parse('2030-01-01') }),
    ]);
    expect(l.checkout(req('x', { feature: 'nope' }), 0, WALL)).toMatchObject({ code: 'UNKNOWN_FEATURE' });
    expect(l.checkout(req('x', { user: 'mallory' }), 0, WALL)).toMatchObject({ code: 'EXCLUDED' });
    expect(l.checkout(req('x', { host: 'bad' }), 0, WALL)).toMatchObject({ code: 'EXCLUDED' });
    const old = l.checkout(req('x', { feature: 'old' }), 0, WALL);
    expect(old).toMatchObject({
      code: 'LICENSE_EXPIRED',
      message: 'feature old expired on 2025-06-30T00:00:00.000Z',
    });
    expect(l.checkout(req('x', { feature: 'future' }), 0, WALL)).toMatchObject({ code: 'LICENSE_EXPIRED' });
    expect(l.checkout(req('u1', { count: 2 }), 0, WALL).ok).toBe(true);
    expect(l.checkout(req('u2'), 0, WALL)).toMatchObject({ code: 'USER_LIMIT' });
    expect(l.checkout(req('h1', { user: 'bob' }), 0, WALL).ok).toBe(true);
    expect(l.checkout(req('h2', { user: 'carol' }), 0, WALL)).toMatchObject({ code: 'HOST_LIMIT' });
    expect(l.renew('nope', 'x', 0)).toMatchObject({ code: 'LEASE_NOT_FOUND' });
    expect(l.release('nope', 'x', 0)).toMatchObject({ code: 'LEASE_NOT_FOUND' });
  });

  it('keeps reserved seats for their host', () => {
    const l = ledger([feature('synth', 3, { reserved: [{ host: 'lab', seats: 2 }] })]);
    expect(l.checkout(req('a', { host: 'ws1' }), 0, WALL).ok).toBe(true);
    expect(l.checkout(req('b', { host: 'ws2' }), 0, WALL)).toMatchObject({ code: 'NO_SEATS' });
    expect(l.checkout(req('c', { host: 'lab' }), 0, WALL).ok).toBe(true);
    expect(l.checkout(req('d', { host: 'lab' }), 0, WALL).ok).toBe(true);
    expect(l.checkout(req('e', { host: 'lab' }), 0, WALL)).toMatchObject({ code: 'NO_SEATS' });
    expect(l.usage(WALL)[0]?.reserved).toEqual([{ host: 'lab', seats: 2, inUse: 2 }]);
  });

  it('lets the client holding a lease renew and release it, nobody else', () => {
    const l = ledger([feature('synth', 1)]);
    const a = l.checkout(req('a'), 0, WALL);
    if (!a.ok) throw new Error('denied');
    expect(l.renew(a.lease.id, 'b', 10)).toMatchObject({ code: 'LEASE_NOT_FOUND' });
    const r = l.renew(a.lease.id, 'a', 100);
    expect(r.ok && r.lease.expiresAt).toBe(100 + TTL);
    expect(l.release(a.lease.id, 'b', 200)).toMatchObject({ code: 'LEASE_NOT_FOUND' });
    expect(l.release(a.lease.id, 'a', 200).ok).toBe(true);
    expect(l.inUse('synth')).toBe(0);
  });

  it('expires leases that are not renewed, freeing their seats', () => {
    const l = ledger([feature('synth', 1)]);
    const a = l.checkout(req('a'), 0, WALL);
    if (!a.ok) throw new Error('denied');
    expect(l.sweep(TTL - 1)).toEqual([]);
    const entries = l.sweep(TTL);
    expect(entries.map((e) => e.op.type)).toEqual(['expire']);
    expect(l.inUse('synth')).toBe(0);
    expect(l.renew(a.lease.id, 'a', TTL + 1)).toMatchObject({ code: 'LEASE_EXPIRED' });
    expect(l.checkout(req('b'), TTL + 1, WALL).ok).toBe(true);
  });

  it('a renew after the expiry time but before a sweep expires the lease', () => {
    const l = ledger([feature('synth', 1)]);
    const a = l.checkout(req('a'), 0, WALL);
    if (!a.ok) throw new Error('denied');
    const r = l.renew(a.lease.id, 'a', TTL + 5);
    expect(r).toMatchObject({ ok: false, code: 'LEASE_EXPIRED' });
    expect(r.entries.map((e) => e.op.type)).toEqual(['expire']);
    expect(l.inUse('synth')).toBe(0);
  });

  it('holds released seats for the linger time; the same client gets them back', () => {
    const l = ledger([feature('synth', 1, { lingerMs: 5000 })]);
    const a = l.checkout(req('a'), 0, WALL);
    if (!a.ok) throw new Error('denied');
    expect(l.release(a.lease.id, 'a', 100).ok).toBe(true);
    expect(l.inUse('synth')).toBe(1);
    expect(l.checkout(req('b'), 200, WALL)).toMatchObject({ code: 'NO_SEATS' });
    const again = l.checkout(req('a'), 300, WALL);
    expect(again.ok && again.lease.id).toBe(a.lease.id);
    expect(l.release(a.lease.id, 'a', 400).ok).toBe(true);
    l.sweep(5399);
    expect(l.inUse('synth')).toBe(1);
    l.sweep(5400);
    expect(l.inUse('synth')).toBe(0);
  });

  it('lease ids carry the epoch, so a new active never reuses one', () => {
    const a = ledger([feature('synth', 5)]);
    const g1 = a.checkout(req('a'), 0, WALL);
    const b = new Ledger({ leaseTtlMs: TTL });
    b.setFeatures([feature('synth', 5)]);
    b.restore(a.snapshot(0), 0);
    // a granted one more lease that b never saw (asynchronous loss); b is promoted
    const lost = a.checkout(req('b'), 0, WALL);
    b.beginEpoch(2, 0);
    const g2 = b.checkout(req('c'), 0, WALL);
    expect(g1.ok && lost.ok && g2.ok).toBe(true);
    if (!g1.ok || !lost.ok || !g2.ok) return;
    expect(new Set([g1.lease.id, lost.lease.id, g2.lease.id]).size).toBe(3);
    expect(() => b.beginEpoch(2, 0)).toThrow(/not above/);
  });

  it('refuses entries out of order', () => {
    const a = ledger([feature('synth', 5)]);
    a.checkout(req('a'), 0, WALL);
    const r = a.checkout(req('b'), 0, WALL);
    const b = new Ledger({ leaseTtlMs: TTL });
    expect(() => r.ok && b.apply(r.entries[0] as LogEntry, 0)).toThrow(/replication gap/);
  });
});

// ------------------------------------------------------------------------------ properties

const FEATURES = [
  feature('f0', 3),
  feature('f1', 5, { reserved: [{ host: 'h0', seats: 2 }], maxPerUser: 3, lingerMs: 700 }),
  feature('f2', 2, { maxPerHost: 1 }),
];

type Cmd =
  | { t: 'checkout'; c: number; f: number; n: number; u: number; h: number }
  | { t: 'renew'; c: number; f: number }
  | { t: 'release'; c: number; f: number }
  | { t: 'advance'; ms: number }
  | { t: 'sweep' }
  | { t: 'replicate'; k: number }
  | { t: 'failover'; lossy: boolean };

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      t: fc.constant('checkout' as const),
      c: fc.nat(7),
      f: fc.nat(2),
      n: fc.integer({ min: 1, max: 3 }),
      u: fc.nat(2),
      h: fc.nat(2),
    }),
  },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('renew' as const), c: fc.nat(7), f: fc.nat(2) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('release' as const), c: fc.nat(7), f: fc.nat(2) }) },
  {
    weight: 3,
    arbitrary: fc.record({ t: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 6000 }) }),
  },
  { weight: 2, arbitrary: fc.constant({ t: 'sweep' as const }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('replicate' as const), k: fc.nat(5) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('failover' as const), lossy: fc.boolean() }) },
);

function checkInvariants(l: Ledger): void {
  const leases = l.listLeases();
  for (const f of FEATURES) {
    const mine = leases.filter((x) => x.feature === f.name);
    const sum = mine.reduce((s, x) => s + x.count, 0);
    expect(sum).toBe(l.inUse(f.name));
    expect(sum).toBeLessThanOrEqual(f.seats);
    for (const r of f.reserved) {
      const general = mine.reduce((s, x) => s + x.count - x.reserved, 0);
      expect(general).toBeLessThanOrEqual(f.seats - r.seats);
    }
    if (f.maxPerUser !== undefined)
      for (const u of new Set(mine.map((x) => x.user)))
        expect(mine.filter((x) => x.user === u).reduce((s, x) => s + x.count, 0)).toBeLessThanOrEqual(
          f.maxPerUser,
        );
    if (f.maxPerHost !== undefined)
      for (const h of new Set(mine.map((x) => x.host)))
        expect(mine.filter((x) => x.host === h).reduce((s, x) => s + x.count, 0)).toBeLessThanOrEqual(
          f.maxPerHost,
        );
    // at most one lease per client and feature
    expect(new Set(mine.map((x) => x.clientId)).size).toBe(mine.length);
  }
}

describe('ledger: properties', () => {
  it('seats in use never exceed seats licensed, under any interleaving incl. failovers', () => {
    fc.assert(
      fc.property(fc.array(cmd, { maxLength: 120 }), (cmds) => {
        let now = 0;
        let active = ledger(FEATURES);
        let standby = new Ledger({ leaseTtlMs: TTL });
        standby.setFeatures(FEATURES);
        standby.restore(active.snapshot(now), now);
        let pending: LogEntry[] = [];
        const granted = new Set<string>();
        const held = new Map<string, string>(); // client/feature → lease id the client was told
        const push = (entries: LogEntry[]): void => {
          pending.push(...entries);
        };
        for (const c of cmds) {
          switch (c.t) {
            case 'checkout': {
              const f = FEATURES[c.f] as FeatureConfig;
              const r = active.checkout(
                { feature: f.name, count: c.n, clientId: `c${c.c}`, user: `u${c.u}`, host: `h${c.h}` },
                now,
                WALL,
              );
              push(r.entries);
              if (r.ok) {
                if (!r.existing) {
                  expect(granted.has(r.lease.id)).toBe(false);
                  granted.add(r.lease.id);
                }
                held.set(`c${c.c}/${f.name}`, r.lease.id);
              }
              break;
            }
            case 'renew':
            case 'release': {
              const f = FEATURES[c.f] as FeatureConfig;
              const id = held.get(`c${c.c}/${f.name}`);
              if (!id) break;
              const r =
                c.t === 'renew' ? active.renew(id, `c${c.c}`, now) : active.release(id, `c${c.c}`, now);
              push(r.entries);
              if (c.t === 'release' || !r.ok) held.delete(`c${c.c}/${f.name}`);
              break;
            }
            case 'advance':
              now += c.ms;
              break;
            case 'sweep':
              push(active.sweep(now));
              break;
            case 'replicate':
              for (const e of pending.splice(0, c.k)) standby.apply(e, now);
              break;
            case 'failover': {
              // synchronous: the standby has everything; asynchronous: pending entries are lost
              if (!c.lossy) for (const e of pending) standby.apply(e, now);
              pending = [];
              standby.beginEpoch(active.epoch + 1, now);
              active = standby;
              push(active.sweep(now));
              standby = new Ledger({ leaseTtlMs: TTL });
              standby.setFeatures(FEATURES);
              standby.restore(active.snapshot(now), now);
              pending = [];
              break;
            }
          }
          checkInvariants(active);
          checkInvariants(standby);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('replaying the replication log on a fresh ledger gives an identical state', () => {
    fc.assert(
      fc.property(fc.array(cmd, { maxLength: 150 }), (cmds) => {
        let now = 0;
        const active = new Ledger({ leaseTtlMs: TTL });
        active.setFeatures(FEATURES);
        const log: { entry: LogEntry; at: number }[] = [];
        const rec = (entries: LogEntry[]): void => {
          for (const entry of entries) log.push({ entry, at: now });
        };
        rec([active.beginEpoch(1, now)]);
        let epoch = 1;
        for (const c of cmds) {
          const f = FEATURES[(c as { f?: number }).f ?? 0] as FeatureConfig;
          const client = `c${(c as { c?: number }).c ?? 0}`;
          if (c.t === 'checkout')
            rec(
              active.checkout(
                { feature: f.name, count: c.n, clientId: client, user: `u${c.u}`, host: `h${c.h}` },
                now,
                WALL,
              ).entries,
            );
          else if (c.t === 'renew' || c.t === 'release') {
            const l = active.listLeases().find((x) => x.clientId === client && x.feature === f.name);
            if (l)
              rec(
                (c.t === 'renew' ? active.renew(l.id, client, now) : active.release(l.id, client, now))
                  .entries,
              );
          } else if (c.t === 'advance') now += c.ms;
          else if (c.t === 'sweep') rec(active.sweep(now));
          else if (c.t === 'failover') rec([active.beginEpoch((epoch += 1), now)]);
        }
        const replica = new Ledger({ leaseTtlMs: TTL });
        for (const { entry, at } of log) replica.apply(entry, at);
        expect(replica.state()).toEqual(active.state());
        // and a snapshot taken at any point plus the rest of the log gives the same
        const cut = Math.floor(log.length / 2);
        const first = new Ledger({ leaseTtlMs: TTL });
        for (const { entry, at } of log.slice(0, cut)) first.apply(entry, at);
        const cutAt = log[cut - 1]?.at ?? 0;
        const second = new Ledger({ leaseTtlMs: TTL });
        second.restore(first.snapshot(cutAt), cutAt);
        for (const { entry, at } of log.slice(cut)) second.apply(entry, at);
        expect(second.state()).toEqual(active.state());
      }),
      { numRuns: 300 },
    );
  });
});
