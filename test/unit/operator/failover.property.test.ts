import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decide,
  type Member,
  type MemberObservation,
  type Observation,
  type Policy,
} from '../../../src/operator/failover.ts';

const T0 = 1_800_000_000_000;
const MEMBERS: Member[] = ['primary', 'redundant'];
const other = (m: Member): Member => (m === 'primary' ? 'redundant' : 'primary');

/** true about one time in seven. */
const rarely = fc.constantFrom(false, false, false, false, false, false, true);

/** A time within ±2 minutes of T0 (or undefined). */
const time = fc.option(fc.integer({ min: T0 - 120_000, max: T0 + 1000 }), { nil: undefined });
const past = fc.option(fc.integer({ min: T0 - 120_000, max: T0 }), { nil: undefined });

const memberArb: fc.Arbitrary<MemberObservation> = fc.record(
  {
    pod: fc.option(
      fc.record(
        {
          phase: fc.constantFrom(
            'Pending',
            'Running',
            'Running',
            'Running',
            'Succeeded',
            'Failed',
            'Unknown',
          ),
          deleting: rarely,
          deletionRequestedAt: past,
          ready: fc.boolean(),
          readyTransitionAt: time,
          containerTerminated: rarely,
          terminatedAt: past,
        },
        { requiredKeys: ['phase', 'deleting', 'ready', 'containerTerminated'] },
      ),
      { nil: undefined, freq: 6 },
    ),
    node: fc.option(
      fc.record(
        { ready: fc.constantFrom('True', 'True', 'True', 'False', 'Unknown'), transitionAt: past },
        {
          requiredKeys: ['ready'],
        },
      ),
      { nil: undefined, freq: 6 },
    ),
    probe: fc.record(
      {
        consecutiveSuccesses: fc.integer({ min: 0, max: 6 }),
        consecutiveFailures: fc.integer({ min: 0, max: 6 }),
        lastSuccessAt: past,
        lastFailureAt: past,
        firstFailureAt: past,
        successSince: past,
      },
      { requiredKeys: ['consecutiveSuccesses', 'consecutiveFailures'] },
    ),
    server: fc.option(
      fc.record(
        {
          role: fc.constantFrom('active', 'standby'),
          epoch: fc.integer({ min: 0, max: 10 }),
          replication: fc.constantFrom('in-sync', 'in-sync', 'catching-up', 'disconnected', 'none'),
          lagEntries: fc.option(fc.nat(100), { nil: undefined }),
          inSyncSince: past,
        },
        { requiredKeys: ['role', 'epoch', 'replication'] },
      ),
      { nil: undefined, freq: 4 },
    ),
  },
  { requiredKeys: ['probe'] },
);

const observationArb: fc.Arbitrary<Observation> = fc.record(
  {
    members: fc.record({ primary: memberArb, redundant: memberArb }),
    status: fc.record(
      {
        liveMember: fc.constantFrom('', 'primary', 'redundant'),
        epoch: fc.integer({ min: 0, max: 10 }),
        lastFailoverAt: past,
        liveSince: past,
        failoverCount: fc.nat(5),
        preferredMember: fc.option(fc.constantFrom<Member>('primary', 'redundant'), { nil: undefined }),
      },
      { requiredKeys: ['liveMember', 'epoch', 'failoverCount'] },
    ),
    switchoverRequested: fc.option(fc.boolean(), { nil: undefined }),
  },
  { requiredKeys: ['members', 'status'] },
);

const policyArb: fc.Arbitrary<Policy> = fc.record({
  enabled: fc.constantFrom(true, true, true, true, false),
  delaySeconds: fc.constantFrom(0, 0, 1, 5, 30),
  failback: fc.constantFrom('Automatic', 'Manual'),
  failbackStableSeconds: fc.constantFrom(0, 5, 30),
  minSecondsBetweenFailovers: fc.constantFrom(0, 10, 60),
  preferredMember: fc.constantFrom('primary', 'redundant'),
  failureThreshold: fc.integer({ min: 1, max: 4 }),
  successThreshold: fc.integer({ min: 1, max: 4 }),
  protocol: fc.constantFrom('reference', 'none'),
});

const nowArb = fc.integer({ min: T0, max: T0 + 60_000 });
const RUNS = { numRuns: 3000 };

function requested(o: Observation, p: Policy): boolean {
  return (
    o.switchoverRequested === true ||
    (o.status.preferredMember !== undefined && o.status.preferredMember !== p.preferredMember)
  );
}

describe('decide: properties', () => {
  it('at most one live member: a promoted member is the live one, and the other is fenced when it may be active', () => {
    fc.assert(
      fc.property(observationArb, policyArb, nowArb, (o, p, now) => {
        const d = decide(o, p, now);
        expect(['', 'primary', 'redundant']).toContain(d.live);
        if (d.promote !== undefined) {
          expect(d.live).toBe(d.promote);
          expect(d.fence).not.toBe(d.promote);
          const o2 = other(d.promote);
          const mayBeActive =
            o.status.liveMember === o2 ||
            (p.protocol === 'reference' && o.members[o2].server?.role === 'active');
          if (mayBeActive) expect(d.fence).toBe(o2);
        }
        // The member that stops being live is always fenced.
        if (o.status.liveMember !== '' && d.live !== o.status.liveMember)
          expect(d.fence).toBe(o.status.liveMember);
        // A member is never fenced and left live.
        if (d.fence !== undefined) expect(d.live).not.toBe(d.fence);
      }),
      RUNS,
    );
  });

  it('never promotes an unhealthy member (nor one catching up); switchovers need in-sync', () => {
    fc.assert(
      fc.property(observationArb, policyArb, nowArb, (o, p, now) => {
        const d = decide(o, p, now);
        if (d.promote !== undefined) {
          const a = d.members[d.promote];
          expect(a.healthy).toBe(true);
          expect(a.failed).toBe(false);
          const m = o.members[d.promote];
          expect(m.pod?.phase).toBe('Running');
          expect(m.pod?.deleting).toBe(false);
          expect(m.probe.consecutiveSuccesses).toBeGreaterThanOrEqual(p.successThreshold);
          if (p.protocol === 'reference') expect(m.server?.replication).not.toBe('catching-up');
          if (d.action === 'switchover' || d.action === 'failback')
            expect(a.eligibleForSwitchover).toBe(true);
        }
      }),
      RUNS,
    );
  });

  it('no flip while the live member has not failed and nothing was requested', () => {
    fc.assert(
      fc.property(observationArb, policyArb, nowArb, (o, p, now) => {
        const d = decide(o, p, now);
        const live = o.status.liveMember;
        if (live === '' || d.members[live].failed || requested(o, p)) return;
        if (live === p.preferredMember || p.failback === 'Manual') expect(d.live).toBe(live);
        // Even with automatic failback the only possible move is to the preferred member.
        if (d.live !== live) {
          expect(d.action).toBe('failback');
          expect(d.live).toBe(p.preferredMember);
        }
      }),
      RUNS,
    );
  });

  it('with failover disabled the operator only reports on failures (it still serves when nobody does)', () => {
    fc.assert(
      fc.property(observationArb, policyArb, nowArb, (o, p, now) => {
        const d = decide(o, { ...p, enabled: false }, now);
        expect(d.action).not.toBe('failover');
        const live = o.status.liveMember;
        if (live !== '' && d.members[live].failed) expect(d.live).toBe(live);
        if (d.action === 'fence-only') expect(d.reason).toBe('StrayActive');
      }),
      RUNS,
    );
  });

  it('is deterministic and does not mutate its input', () => {
    fc.assert(
      fc.property(observationArb, policyArb, nowArb, (o, p, now) => {
        const copy = structuredClone(o);
        const d1 = decide(o, p, now);
        const d2 = decide(structuredClone(o), { ...p }, now);
        expect(d2).toEqual(d1);
        expect(o).toEqual(copy);
      }),
      { numRuns: 1000 },
    );
  });

  it('requeueAfterMs is a positive integer, present when a timed rule is pending, and sufficient', () => {
    fc.assert(
      fc.property(observationArb, policyArb, nowArb, (o, p, now) => {
        const d = decide(o, p, now);
        if (d.requeueAfterMs !== undefined) {
          expect(Number.isInteger(d.requeueAfterMs)).toBe(true);
          expect(d.requeueAfterMs).toBeGreaterThan(0);
          // After waiting that long (nothing else changing) the same timed rule no longer holds us back.
          const later = decide(o, p, now + d.requeueAfterMs);
          expect(later.reason === d.reason && later.requeueAfterMs !== undefined).toBe(false);
        }
        if (d.reason === 'FailoverDelayed' || d.reason === 'MinIntervalNotElapsed') {
          expect(d.requeueAfterMs).toBeDefined();
        }
      }),
      RUNS,
    );
  });

  it('the epoch only grows, and a promotion uses an epoch above every known one', () => {
    fc.assert(
      fc.property(observationArb, policyArb, nowArb, (o, p, now) => {
        const d = decide(o, p, now);
        expect(d.epoch).toBeGreaterThanOrEqual(o.status.epoch);
        if (d.promote !== undefined) {
          expect(d.epoch).toBeGreaterThan(o.status.epoch);
          if (p.protocol === 'reference') {
            for (const m of MEMBERS) expect(d.epoch).toBeGreaterThan(o.members[m].server?.epoch ?? 0);
          }
        } else {
          expect(d.epoch).toBe(o.status.epoch);
        }
      }),
      RUNS,
    );
  });

  it('phase, conditions and bookkeeping are consistent with the decision', () => {
    fc.assert(
      fc.property(observationArb, policyArb, nowArb, (o, p, now) => {
        const d = decide(o, p, now);
        const ready = d.conditions.find((c) => c.type === 'Ready')!;
        expect(d.conditions.map((c) => c.type)).toEqual([
          'Ready',
          'Degraded',
          'StandbyReady',
          'ServingAlone',
          ...(p.protocol === 'reference' ? ['LicenceValid'] : []),
        ]);
        for (const c of d.conditions) expect(c.reason).toMatch(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/);
        // Ready: a live member that has not failed, and whose pod the Service routes to.
        const serving =
          d.phase !== 'Unavailable' && d.phase !== 'Pending' && d.live !== '' && d.members[d.live].podReady;
        expect(ready.status).toBe(serving ? 'True' : 'False');
        if (d.live === '') expect(['Pending', 'Unavailable']).toContain(d.phase);
        if (d.phase === 'Running') expect(d.live).toBe(p.preferredMember);
        expect(d.moved).toBe(d.live !== o.status.liveMember);
        if (d.countsAsFailover) expect(['failover', 'failback', 'switchover']).toContain(d.action);
        if (d.lastFailover) expect(d.lastFailover).toMatchObject({ from: o.status.liveMember, to: d.live });
        if (d.requestHandled) expect(d.live).toBe(p.preferredMember);
        for (const m of MEMBERS) {
          const a = d.members[m];
          expect(a.health === 'Healthy').toBe(a.healthy);
          if (a.failed) expect(a.health).toBe('Unhealthy');
        }
      }),
      RUNS,
    );
  });

  it('a failed live member with a healthy in-sync standby is failed over once delay and interval allow', () => {
    fc.assert(
      fc.property(observationArb, policyArb, (o, p) => {
        const live = o.status.liveMember;
        const d0 = decide(o, p, T0);
        if (live === '' || !p.enabled || !d0.members[live].failed) return;
        if (!d0.members[other(live)].eligibleForFailover) return;
        // far enough in the future every timer has run out (times are within 2 minutes of T0)
        const d = decide(o, p, T0 + 3_600_000);
        expect(d.action).toBe('failover');
        expect(d.live).toBe(other(live));
      }),
      RUNS,
    );
  });
});
