import { describe, expect, it } from 'vitest';
import type { Condition, MemberStatus, PairStatus } from '../../../src/api/pair.ts';
import { statusWrite } from '../../../src/operator/status-urgency.ts';

const T = '2026-12-01T10:00:00Z';
const cond = (type: string, status: Condition['status'], reason = 'R'): Condition => ({
  type,
  status,
  reason,
  message: '',
  lastTransitionTime: T,
});
const member = (over: Partial<MemberStatus> = {}): MemberStatus => ({
  podName: 'p-primary',
  podIP: '10.0.0.7',
  nodeName: 'n1',
  ready: true,
  healthy: true,
  health: 'Healthy',
  role: 'active',
  epoch: 3,
  lastProbeResult: 'Success',
  lastProbeTime: T,
  consecutiveFailures: 0,
  replication: { state: 'in-sync' },
  ...over,
});
const running: PairStatus = {
  liveMember: 'primary',
  preferredMember: 'primary',
  phase: 'Running',
  epoch: 3,
  failoverCount: 1,
  liveSince: T,
  lastFailover: { time: T, from: 'redundant', to: 'primary', action: 'failback', reason: 'FailbackStable' },
  observedGeneration: 2,
  members: { primary: member(), redundant: member({ podName: 'p-redundant', role: 'standby' }) },
  conditions: [cond('Ready', 'True'), cond('Degraded', 'False'), cond('StandbyReady', 'True')],
};
const withMember = (s: PairStatus, m: 'primary' | 'redundant', over: Partial<MemberStatus>): PairStatus => ({
  ...s,
  members: { ...s.members, [m]: { ...s.members![m], ...over } },
});
const withCondition = (s: PairStatus, c: Condition): PairStatus => ({
  ...s,
  conditions: s.conditions!.map((x) => (x.type === c.type ? c : x)),
});

describe('which status changes are written at once', () => {
  it('nothing to write when nothing changed, whatever the order of keys', () => {
    // Every object's keys in reverse order, at every depth (the API server returns them sorted).
    const reversed = (v: unknown): unknown =>
      Array.isArray(v)
        ? v.map(reversed)
        : v !== null && typeof v === 'object'
          ? Object.fromEntries(
              Object.entries(v)
                .reverse()
                .map(([k, x]) => [k, reversed(x)]),
            )
          : v;
    expect(statusWrite(running, { ...running })).toBe('none');
    expect(statusWrite(running, reversed(running) as PairStatus)).toBe('none');
  });

  it('writes what the failover decision reads back at once', () => {
    const changes: PairStatus[] = [
      { ...running, liveMember: 'redundant' },
      { ...running, liveMember: '' },
      { ...running, epoch: 4 },
      { ...running, preferredMember: 'redundant' },
      { ...running, lastSwitchoverRequest: 'now' },
      { ...running, failoverCount: 2 },
      { ...running, liveSince: '2026-12-01T10:00:01Z' },
      { ...running, lastFailover: { ...running.lastFailover!, reason: 'ProbeFailed' } },
    ];
    for (const next of changes) expect(statusWrite(running, next)).toBe('now');
  });

  it('writes an acknowledged spec change at once, but lets a new pair’s first status wait', () => {
    expect(statusWrite(running, { ...running, observedGeneration: 3 })).toBe('now');
    expect(
      statusWrite(
        {},
        {
          phase: 'Pending',
          observedGeneration: 1,
          members: {
            primary: member({ health: 'Unhealthy', healthy: false, healthReason: 'PodMissing' }),
            redundant: member({ health: 'Unknown', healthy: false }),
          },
        },
      ),
    ).toBe('may-wait');
  });

  it('writes bad news at once: a phase other than Running, a member no longer healthy or turning unhealthy', () => {
    for (const phase of ['Degraded', 'FailedOver', 'Unavailable', 'Pending'] as const)
      expect(statusWrite(running, { ...running, phase })).toBe('now');
    expect(
      statusWrite(running, withMember(running, 'redundant', { health: 'Unknown', healthy: false })),
    ).toBe('now');
    expect(
      statusWrite(running, withMember(running, 'redundant', { health: 'Unhealthy', healthy: false })),
    ).toBe('now');
    const unknown = withMember(running, 'redundant', { health: 'Unknown', healthy: false });
    expect(
      statusWrite(unknown, withMember(running, 'redundant', { health: 'Unhealthy', healthy: false })),
    ).toBe('now');
  });

  it('writes a condition turning worse at once', () => {
    expect(statusWrite(running, withCondition(running, cond('Ready', 'False')))).toBe('now');
    expect(statusWrite(running, withCondition(running, cond('StandbyReady', 'Unknown')))).toBe('now');
    expect(statusWrite(running, withCondition(running, cond('Degraded', 'True')))).toBe('now');
  });

  it('lets good news wait: Running again, a member turning healthy, a condition turning better', () => {
    const degraded: PairStatus = {
      ...withMember(running, 'redundant', { health: 'Unknown', healthy: false }),
      phase: 'Degraded',
      conditions: [cond('Ready', 'True'), cond('Degraded', 'True'), cond('StandbyReady', 'False')],
    };
    expect(statusWrite(degraded, running)).toBe('may-wait');
    const unhealthy = withMember(running, 'redundant', { health: 'Unhealthy', healthy: false });
    expect(
      statusWrite(unhealthy, withMember(running, 'redundant', { health: 'Unknown', healthy: false })),
    ).toBe('may-wait');
    expect(statusWrite(withCondition(running, cond('Ready', 'False')), running)).toBe('may-wait');
  });

  it('lets the fields that only describe a member wait', () => {
    const describing: Partial<MemberStatus>[] = [
      { podIP: '10.0.0.9' },
      { nodeName: 'n2' },
      { podName: 'other' },
      { ready: false },
      { role: 'standby' },
      { epoch: 4 },
      { lastProbeResult: 'Failure', lastProbeMessage: 'timeout', consecutiveFailures: 1 },
      { lastProbeTime: '2026-12-01T10:00:09Z' },
      { replication: { state: 'catching-up', lagEntries: 12 } },
    ];
    for (const over of describing)
      expect(statusWrite(running, withMember(running, 'primary', over))).toBe('may-wait');
    // A reason or message of a condition whose status stays is no news either.
    expect(statusWrite(running, withCondition(running, cond('Ready', 'True', 'Other')))).toBe('may-wait');
  });
});
