import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { LicenseServerPair, PairStatus } from '../../../src/api/pair.ts';
import { LicenseServerPairSchema } from '../../../src/api/pair.ts';
import { decide } from '../../../src/operator/failover.ts';
import type { MemberProbeState } from '../../../src/operator/probe-check.ts';
import { nextStatus } from '../../../src/operator/status-builder.ts';
import { POLICY, T0, member, steady } from './decision-fixtures.ts';

// status.members.*.lastProbeTime says since when the member's checks have had their current
// result, so a steady pair costs no status writes, and a replacement pod is not shown with the
// time of its predecessor's checks (an operator taking over from status trusts only a record
// written after the pod existed: probe-seed.ts).

const S = 1000;
const iso = (t: number) => new Date(t).toISOString().replace('.000Z', 'Z');
const pair = LicenseServerPairSchema.parse({
  apiVersion: 'lpo.dev/v1alpha1',
  kind: 'LicenseServerPair',
  metadata: { name: 'p', namespace: 'n' },
  spec: { server: { license: { secretName: 'lic' } } },
}) as LicenseServerPair;
const pod = (name: string): V1Pod => ({ metadata: { name, uid: name } });
const passing = (since: number, last: number): MemberProbeState => ({
  history: { consecutiveSuccesses: 5, consecutiveFailures: 0, lastSuccessAt: last, successSince: since },
  lastProbeAt: last,
  lastResult: { ok: true, latencyMs: 1, message: 'ok' },
});

function status(prev: PairStatus, primary: MemberProbeState, now: number): PairStatus {
  return nextStatus(
    pair,
    prev,
    decide(steady(member('active'), member('standby')), POLICY, now),
    { primary: pod('p-primary'), redundant: pod('p-redundant') },
    (m) => (m === 'primary' ? primary : passing(T0 - 600 * S, now)),
    now,
    undefined,
  );
}

describe('lastProbeTime of a member', () => {
  it('stays at the start of a passing streak while the checks go on passing', () => {
    const first = status({}, passing(T0 - 60 * S, T0 - 60 * S), T0 - 60 * S);
    const later = status(first, passing(T0 - 60 * S, T0), T0);
    expect(later.members?.primary?.lastProbeTime).toBe(iso(T0 - 60 * S));
    expect(later.members?.primary?.lastProbeTime).toBe(first.members?.primary?.lastProbeTime);
  });

  it('is the first check of a replacement pod, though it passes like the old pod’s last one', () => {
    const before = status({}, passing(T0 - 600 * S, T0 - 10 * S), T0 - 10 * S);
    // A new pod (new probe state): its first check passed at T0.
    const after = status(before, passing(T0, T0), T0);
    expect(before.members?.primary?.lastProbeResult).toBe('Success');
    expect(after.members?.primary?.lastProbeResult).toBe('Success');
    expect(after.members?.primary?.lastProbeTime).toBe(iso(T0));
  });

  it('is the first failed check of a failing streak', () => {
    const failing: MemberProbeState = {
      history: {
        consecutiveSuccesses: 0,
        consecutiveFailures: 2,
        lastFailureAt: T0,
        firstFailureAt: T0 - 2 * S,
      },
      lastProbeAt: T0,
      lastResult: { ok: false, latencyMs: 1000, message: 'timeout' },
    };
    const s = status(status({}, passing(T0 - 60 * S, T0 - 4 * S), T0 - 4 * S), failing, T0);
    expect(s.members?.primary?.lastProbeResult).toBe('Failure');
    expect(s.members?.primary?.lastProbeTime).toBe(iso(T0 - 2 * S));
  });
});
