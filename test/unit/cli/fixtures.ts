import type { PairObject } from '../../../src/cli/pair-commands.ts';

export const NOW = Date.parse('2026-03-01T12:00:00Z');

/** A pair that failed over from primary to redundant 5 minutes ago; primary is back but catching up. */
export function failedOverPair(): PairObject {
  return {
    apiVersion: 'lpo.dev/v1alpha1',
    kind: 'LicenseServerPair',
    metadata: {
      name: 'eda-tools',
      namespace: 'licensing',
      creationTimestamp: '2026-03-01T10:00:00Z',
      generation: 1,
      managedFields: [{ manager: 'kubectl' }],
    },
    spec: { preferredMember: 'primary', failover: { enabled: true, failback: 'Manual' } },
    status: {
      liveMember: 'redundant',
      preferredMember: 'primary',
      phase: 'FailedOver',
      epoch: 8,
      liveSince: '2026-03-01T11:55:00Z',
      members: {
        primary: {
          podName: 'eda-tools-primary',
          nodeName: 'node-a',
          podIP: '10.0.0.5',
          ready: true,
          health: 'Unhealthy',
          healthReason: 'ProbeFailed',
          role: 'standby',
          epoch: 7,
          lastProbeTime: '2026-03-01T11:59:58Z',
          lastProbeResult: 'Failure',
          lastProbeMessage: 'connect ECONNREFUSED 10.0.0.5:7071',
          consecutiveFailures: 4,
          replication: { state: 'catching-up', lagEntries: 120, lagSeconds: 1.5 },
        },
        redundant: {
          podName: 'eda-tools-redundant',
          nodeName: 'node-b',
          ready: true,
          health: 'Healthy',
          role: 'active',
          epoch: 8,
          lastProbeTime: '2026-03-01T11:59:59Z',
          lastProbeResult: 'Success',
          replication: { state: 'none' },
        },
      },
      lastFailover: {
        time: '2026-03-01T11:55:00Z',
        from: 'primary',
        to: 'redundant',
        action: 'failover',
        reason: 'ProbeFailed',
        detectionSeconds: 4.2,
      },
      failoverCount: 3,
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'LiveMemberServing',
          message: 'redundant serves',
          lastTransitionTime: '2026-03-01T11:55:00Z',
        },
        {
          type: 'Degraded',
          status: 'True',
          reason: 'MemberUnhealthy',
          message: 'primary is unhealthy',
          lastTransitionTime: '2026-03-01T11:54:56Z',
        },
      ],
    },
  };
}

/** A healthy pair live on primary, both members healthy and in sync. */
export function runningPair(name = 'eda-tools'): PairObject {
  return {
    metadata: { name, namespace: 'licensing', creationTimestamp: '2026-03-01T11:58:30Z' },
    spec: { preferredMember: 'primary' },
    status: {
      liveMember: 'primary',
      preferredMember: 'primary',
      phase: 'Running',
      epoch: 2,
      members: {
        primary: { health: 'Healthy', role: 'active', replication: { state: 'none' } },
        redundant: { health: 'Healthy', role: 'standby', replication: { state: 'in-sync', lagEntries: 0 } },
      },
      failoverCount: 0,
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'LiveMemberServing',
          message: '',
          lastTransitionTime: '2026-03-01T11:59:00Z',
        },
      ],
    },
  };
}
