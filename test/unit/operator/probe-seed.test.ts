import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { MemberStatus } from '../../../src/api/pair.ts';
import { recordProbe } from '../../../src/operator/observation.ts';
import { probeStateFromStatus } from '../../../src/operator/probe-seed.ts';

const pod: V1Pod = {
  metadata: { name: 'p-primary', uid: 'u2', creationTimestamp: new Date('2026-11-28T10:00:00Z') },
  status: { podIP: '10.0.0.7' },
};
const healthy: MemberStatus = {
  podName: 'p-primary',
  podIP: '10.0.0.7',
  health: 'Healthy',
  healthy: true,
  lastProbeResult: 'Success',
  lastProbeTime: '2026-11-28T10:00:05Z',
  role: 'active',
  epoch: 4,
  replication: { state: 'in-sync' },
};

describe('probe state taken over from status', () => {
  it('starts a member the last operator found healthy on this pod with a passing streak and its report', () => {
    const s = probeStateFromStatus(healthy, pod, 2)!;
    expect(s.history).toMatchObject({ consecutiveSuccesses: 2, consecutiveFailures: 0 });
    expect(s.history.successSince).toBe(Date.parse('2026-11-28T10:00:05Z'));
    expect(s.lastResult?.ok).toBe(true);
    expect(s.fromStatus).toBe(true);
    expect(s.server).toEqual({ role: 'active', epoch: 4, replication: 'in-sync' });
    expect(s.server?.at).toBeUndefined();
    // The streak goes on from there: one failure starts counting failures as usual.
    expect(recordProbe(s.history, false, Date.now())).toMatchObject({
      consecutiveSuccesses: 0,
      consecutiveFailures: 1,
    });
  });

  it('takes over nothing for another pod, a pod newer than the record, or a member that was not healthy', () => {
    expect(probeStateFromStatus(healthy, { ...pod, status: { podIP: '10.0.0.8' } }, 2)).toBeUndefined();
    expect(
      probeStateFromStatus(healthy, { ...pod, metadata: { ...pod.metadata, name: 'p-redundant' } }, 2),
    ).toBeUndefined();
    expect(
      probeStateFromStatus(
        healthy,
        { ...pod, metadata: { ...pod.metadata, creationTimestamp: new Date('2026-11-28T10:00:06Z') } },
        2,
      ),
    ).toBeUndefined();
    expect(probeStateFromStatus({ ...healthy, health: 'Unhealthy' }, pod, 2)).toBeUndefined();
    expect(probeStateFromStatus({ ...healthy, lastProbeResult: 'Failure' }, pod, 2)).toBeUndefined();
    expect(
      probeStateFromStatus({ ...healthy, lastProbeTime: undefined } as MemberStatus, pod, 2),
    ).toBeUndefined();
    expect(probeStateFromStatus(undefined, pod, 2)).toBeUndefined();
  });

  it('leaves the server report out when status has no usable role', () => {
    expect(probeStateFromStatus({ ...healthy, role: 'unknown' }, pod, 2)?.server).toBeUndefined();
    expect(
      probeStateFromStatus({ ...healthy, replication: { state: 'unknown' } }, pod, 2)?.server,
    ).toBeUndefined();
  });
});
