import type { PairObject } from '../../../src/cli/pair-object.ts';

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

/**
 * An operator's /metrics text as prom-client writes it: the leader gauge, the last-probe times of
 * failedOverPair() (redundant checked 1 s ago; primary failing, last ok 4 min ago) and another
 * pair, among series the CLI does not read.
 */
export function leaderMetricsText(leader = true): string {
  const t = (msAgo: number): string => String((NOW - msAgo) / 1000);
  return [
    '# HELP leader_election_master_status Gauge of if the reporting system is master of the relevant lease',
    '# TYPE leader_election_master_status gauge',
    `leader_election_master_status{name="license-pair-operator-leader"} ${leader ? 1 : 0}`,
    '# HELP lpo_member_last_probe_timestamp_seconds When the operator last checked the member (Unix time)',
    '# TYPE lpo_member_last_probe_timestamp_seconds gauge',
    `lpo_member_last_probe_timestamp_seconds{namespace="licensing",pair="eda-tools",member="primary",result="failure"} ${t(1500)}`,
    `lpo_member_last_probe_timestamp_seconds{namespace="licensing",pair="eda-tools",member="primary",result="success"} ${t(252_000)}`,
    `lpo_member_last_probe_timestamp_seconds{namespace="licensing",pair="eda-tools",member="redundant",result="success"} ${t(1200)}`,
    `lpo_member_last_probe_timestamp_seconds{namespace="other",pair="sim",member="primary",result="success"} ${t(500)}`,
    '# TYPE lpo_member_probe_duration_seconds gauge',
    'lpo_member_probe_duration_seconds{namespace="licensing",pair="eda-tools",member="primary"} 0.004',
    '',
  ].join('\n');
}
