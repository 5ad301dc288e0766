// The observations the decision tables are written in: members healthy and in sync for ten
// minutes unless patched, a status that has been steady for an hour, and how a scenario's
// expectation is checked.
import { expect } from 'vitest';
import type { Decision } from '../../../src/operator/decision.ts';
import type {
  MemberObservation,
  Observation,
  Policy,
  StatusObservation,
} from '../../../src/operator/observation.ts';

export const T0 = 1_800_000_000_000;
export const S = 1000;

export const POLICY: Policy = {
  enabled: true,
  delaySeconds: 0,
  failback: 'Automatic',
  failbackStableSeconds: 30,
  minSecondsBetweenFailovers: 10,
  preferredMember: 'primary',
  failureThreshold: 3,
  successThreshold: 2,
  protocol: 'reference',
};

export type Patch = {
  pod?: Partial<NonNullable<MemberObservation['pod']>> | null;
  node?: MemberObservation['node'] | null;
  probe?: Partial<MemberObservation['probe']>;
  server?: Partial<NonNullable<MemberObservation['server']>> | null;
  specOutdated?: boolean;
};

/** A member that has been healthy and in sync for 10 minutes, reporting `role`. */
export function member(role: 'active' | 'standby', patch: Patch = {}, epoch = 1): MemberObservation {
  const m: MemberObservation = {
    pod: {
      phase: 'Running',
      deleting: false,
      ready: true,
      readyTransitionAt: T0 - 900 * S,
      containerTerminated: false,
    },
    node: { ready: 'True', transitionAt: T0 - 3600 * S },
    probe: {
      consecutiveSuccesses: 300,
      consecutiveFailures: 0,
      lastSuccessAt: T0 - 1 * S,
      successSince: T0 - 600 * S,
    },
    server: { role, epoch, replication: 'in-sync', lagEntries: 0, inSyncSince: T0 - 600 * S },
  };
  if (patch.pod === null) delete m.pod;
  else if (patch.pod) m.pod = { ...m.pod!, ...patch.pod };
  if (patch.node === null) delete m.node;
  else if (patch.node) m.node = patch.node;
  if (patch.probe) m.probe = { ...m.probe, ...patch.probe };
  if (patch.server === null) delete m.server;
  else if (patch.server) m.server = { ...m.server!, ...patch.server };
  if (patch.specOutdated) m.specOutdated = true;
  return m;
}

export const probeFailed = (n = 3, since = T0 - 6 * S): Patch => ({
  probe: { consecutiveSuccesses: 0, consecutiveFailures: n, firstFailureAt: since, lastFailureAt: T0 },
});
export const notProbed: Patch = {
  probe: { consecutiveSuccesses: 0, consecutiveFailures: 0, successSince: undefined },
};
export const pending: Patch = { pod: { phase: 'Pending', ready: false }, ...notProbed };

export function status(patch: Partial<StatusObservation> = {}): StatusObservation {
  return {
    liveMember: 'primary',
    epoch: 1,
    failoverCount: 0,
    liveSince: T0 - 800 * S,
    lastFailoverAt: T0 - 3600 * S,
    preferredMember: 'primary',
    ...patch,
  };
}

export const steady = (
  p: MemberObservation,
  r: MemberObservation,
  st: Partial<StatusObservation> = {},
): Observation => ({
  members: { primary: p, redundant: r },
  status: status(st),
});

export interface Scenario {
  name: string;
  obs: Observation;
  policy?: Partial<Policy>;
  now?: number;
  expect: Partial<Omit<Decision, 'conditions'>> & { conditions?: Record<string, string> };
}

export function check(d: Decision, e: Scenario['expect']): void {
  const { conditions, ...rest } = e;
  for (const [k, v] of Object.entries(rest)) {
    expect(d[k as keyof Decision], k).toEqual(v);
  }
  if (conditions) {
    for (const [type, st] of Object.entries(conditions)) {
      expect(d.conditions.find((c) => c.type === type)?.status, type).toBe(st);
    }
  }
}
