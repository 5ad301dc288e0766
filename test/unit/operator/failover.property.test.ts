import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MEMBERS, otherMember, type Member } from '../../../src/api/pair.ts';
import { dataLossRequestValue } from '../../../src/operator/data-loss-promotion.ts';
import { decide } from '../../../src/operator/failover.ts';
import type { MemberObservation, Observation, Policy } from '../../../src/operator/observation.ts';

const T0 = 1_800_000_000_000;

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
          const o2 = otherMember(d.promote);
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
        // A leaving member that still answers is handed over: a planned switchover, not a failover.
        const handover = d.row === '3a';
        if (live !== '' && d.members[live].failed && !handover) expect(d.live).toBe(live);
        if (handover) expect(d.members[live as Member].leaving).toBe(true);
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
        if (!d0.members[otherMember(live)].eligibleForFailover) return;
        // far enough in the future every timer has run out (times are within 2 minutes of T0)
        const d = decide(o, p, T0 + 3_600_000);
        expect(d.action).toBe(d.row === '3a' ? 'switchover' : 'failover');
        expect(d.live).toBe(otherMember(live));
      }),
      RUNS,
    );
  });

  it('a leaving live member is handed over only while it answers, to a member in sync, and demoted first', () => {
    fc.assert(
      fc.property(observationArb, policyArb, nowArb, (o, p, now) => {
        const d = decide(o, p, now);
        const live = o.status.liveMember;
        if (d.row !== '3a' || live === '') return;
        const m = o.members[live];
        expect(m.pod?.deleting).toBe(true);
        expect(m.pod?.containerTerminated).toBe(false);
        expect(m.probe.consecutiveFailures).toBe(0);
        if (p.protocol === 'reference') {
          expect(m.server?.role).toBe('active');
          expect(m.server?.epoch).toBe(o.status.epoch);
        }
        expect(d).toMatchObject({
          action: 'switchover',
          fence: live,
          promote: otherMember(live),
          demoteFirst: true,
        });
        expect(d.members[otherMember(live)].eligibleForSwitchover).toBe(true);
      }),
      RUNS,
    );
  });

  it('a fenced member that does not answer is never awaited; one that does is', () => {
    fc.assert(
      fc.property(observationArb, policyArb, nowArb, (o, p, now) => {
        const d = decide(o, p, now);
        const a = d.fence === undefined ? undefined : d.members[d.fence];
        expect(d.demoteFirst === true).toBe(a !== undefined && (a.healthy || a.leaving === true));
      }),
      RUNS,
    );
  });
});

/** Healthy for a while under any policy of policyArb, following no active. */
const healthyStandby: MemberObservation = {
  pod: { phase: 'Running', deleting: false, ready: true, containerTerminated: false },
  node: { ready: 'True' },
  probe: { consecutiveSuccesses: 6, consecutiveFailures: 0, successSince: T0 - 60_000 },
  server: { role: 'standby', epoch: 3, replication: 'disconnected' },
};

/**
 * Observations with a serving-alone episode (status.servingAlone), a request to promote accepting
 * data loss (fitting it, naming the wrong member or episode, or not a request) and the bound of
 * the grants sent.
 */
const episodeArb: fc.Arbitrary<Observation> = fc
  .record({
    o: observationArb,
    alone: fc.option(
      fc.record({
        member: fc.constantFrom<Member>('primary', 'redundant'),
        epoch: fc.integer({ min: 0, max: 10 }),
        // whole seconds, as status holds it
        since: fc.integer({ min: -120, max: 0 }).map((s) => T0 + s * 1000),
      }),
      { nil: undefined, freq: 8 },
    ),
    request: fc.constantFrom('fits', 'fits', 'fits', 'wrong-member', 'stale', 'garbage', undefined),
    grantsBindUntil: fc.option(fc.integer({ min: T0 - 10_000, max: T0 + 70_000 }), { nil: undefined }),
    // half the runs are the outage the request is for: the member that served alone lost, the
    // other healthy, no member live
    outage: fc.boolean(),
  })
  .map(({ o, alone, request, grantsBindUntil, outage }) => {
    const since = new Date(alone?.since ?? T0).toISOString();
    const target = alone ? otherMember(alone.member) : 'redundant';
    const value = {
      fits: dataLossRequestValue(target, since, 'r1'),
      'wrong-member': dataLossRequestValue(otherMember(target), since),
      stale: dataLossRequestValue(target, new Date((alone?.since ?? T0) - 1000).toISOString()),
      garbage: 'please',
    };
    const members =
      outage && alone
        ? { ...o.members, [alone.member]: { probe: o.members[alone.member].probe }, [target]: healthyStandby }
        : o.members;
    return {
      ...o,
      members,
      status: {
        ...o.status,
        ...(outage ? { liveMember: '' as const } : {}),
        ...(alone ? { servingAlone: alone } : {}),
      },
      ...(request ? { dataLossRequest: value[request as keyof typeof value] } : {}),
      ...(grantsBindUntil !== undefined ? { grantsBindUntil } : {}),
    };
  });

describe('decide: the promotion accepting data loss (properties)', () => {
  it('a member marked not promotable is promoted only on a request that fits, with no member live, once every grant has expired', () => {
    const seen = { promoted: 0, waiting: 0, refused: 0 };
    fc.assert(
      fc.property(episodeArb, policyArb, nowArb, (o, p, now) => {
        const d = decide(o, p, now);
        const kind = d.dataLoss?.verdict.kind;
        if (kind === 'promote') seen.promoted++;
        if (kind === 'wait') seen.waiting++;
        if (kind === 'refuse') seen.refused++;
        const alone = o.status.servingAlone;
        if (d.promote === undefined || alone === undefined || d.promote !== otherMember(alone.member)) return;
        expect(d.action).toBe('promote-accepting-data-loss');
        expect(o.dataLossRequest).toBeDefined();
        const value = o.dataLossRequest!;
        expect(value.startsWith(`${d.promote}@${new Date(alone.since).toISOString()}`)).toBe(true);
        expect(o.status.liveMember).toBe('');
        expect(now).toBeGreaterThanOrEqual(o.grantsBindUntil ?? -Infinity);
        // The member that served alone is fenced (demoted with the new epoch), and marked in turn.
        expect(d.fence).toBe(alone.member);
        if (p.protocol === 'reference') expect(d.serving.alone?.member).toBe(d.promote);
        expect(d.members[d.promote].healthy).toBe(true);
      }),
      RUNS,
    );
    // the runs reached every verdict, not only refusals
    // (about 350, 400 and 1,800 of 3,000: far from these bounds)
    expect(seen.promoted).toBeGreaterThan(100);
    expect(seen.waiting).toBeGreaterThan(100);
    expect(seen.refused).toBeGreaterThan(500);
  });

  it('every promotion accepting data loss is the verdict of the request, and no other move has one', () => {
    fc.assert(
      fc.property(episodeArb, policyArb, nowArb, (o, p, now) => {
        const d = decide(o, p, now);
        const v = d.dataLoss?.verdict;
        expect(d.dataLoss === undefined).toBe(o.dataLossRequest === undefined);
        if (d.action === 'promote-accepting-data-loss') expect(v?.kind).toBe('promote');
        if (v?.kind === 'promote') expect(d.action).toBe('promote-accepting-data-loss');
        if (v?.kind === 'wait' && v.until !== undefined) expect(d.requeueAfterMs).toBeDefined();
      }),
      RUNS,
    );
  });

  it('carried out once: the status it writes makes the same request promote nothing', () => {
    fc.assert(
      fc.property(episodeArb, policyArb, nowArb, (o, p, now) => {
        const d = decide(o, p, now);
        if (d.action !== 'promote-accepting-data-loss') return;
        // Even if the shell passed the handled value again, the written status refuses it.
        const after: Observation = {
          ...o,
          status: {
            ...o.status,
            liveMember: d.live,
            epoch: d.epoch,
            liveSince: now,
            ...(d.serving.alone
              ? {
                  servingAlone: {
                    ...d.serving.alone,
                    since: Math.floor(d.serving.alone.since / 1000) * 1000,
                  },
                }
              : {}),
          },
        };
        const again = decide(after, p, now + 1000);
        expect(again.dataLoss?.verdict.kind).toBe('refuse');
        expect(again.action).not.toBe('promote-accepting-data-loss');
      }),
      RUNS,
    );
  });

  it('the rules that hold without a request hold with one: one live member, a promoted member healthy, epochs growing', () => {
    fc.assert(
      fc.property(episodeArb, policyArb, nowArb, (o, p, now) => {
        const d = decide(o, p, now);
        if (d.promote === undefined) {
          expect(d.epoch).toBe(o.status.epoch);
          return;
        }
        expect(d.live).toBe(d.promote);
        expect(d.epoch).toBeGreaterThan(o.status.epoch);
        expect(d.members[d.promote].healthy).toBe(true);
        const o2 = otherMember(d.promote);
        if (
          o.status.liveMember === o2 ||
          (p.protocol === 'reference' && o.members[o2].server?.role === 'active')
        )
          expect(d.fence).toBe(o2);
        if (p.protocol === 'reference')
          expect(o.members[d.promote].server?.replication).not.toBe('catching-up');
      }),
      RUNS,
    );
  });
});
