import { describe, expect, it } from 'vitest';
import type { Condition, PairStatus } from '../../../src/api/pair.ts';
import type { Decision } from '../../../src/operator/decision.ts';
import { actionEventOf, eventsOf, statusEventsOf } from '../../../src/operator/pair-events.ts';

const cond = (type: string, status: string, reason: string, message = reason): Condition => ({
  type,
  status: status as Condition['status'],
  reason,
  message,
  lastTransitionTime: '2027-01-01T00:00:00Z',
});

const decision = (patch: Partial<Decision> = {}): Decision =>
  ({
    action: 'none',
    reason: 'Healthy',
    message: 'the primary member serves',
    serving: { message: 'paired' },
    ...patch,
  }) as Decision;

const st = (
  phase: PairStatus['phase'],
  conditions: Condition[] = [],
  extra: Partial<PairStatus> = {},
): PairStatus => ({
  phase,
  conditions,
  ...extra,
});

const reasons = (prev: PairStatus, next: PairStatus, d = decision(), written = true) =>
  eventsOf(prev, next, d, written).map((e) => `${e.type}/${e.reason}`);

describe('eventsOf: one Event per change', () => {
  it('a failover is one Event, not also a phase Event', () => {
    expect(reasons(st('Running'), st('FailedOver'), decision({ action: 'failover', message: 'm' }))).toEqual([
      'Warning/FailedOver',
    ]);
    expect(reasons(st('FailedOver'), st('Running'), decision({ action: 'failback' }))).toEqual([
      'Normal/FailedBack',
    ]);
  });

  it('a phase change alone is an Event; a new pair’s first phase and first promotion are not', () => {
    expect(reasons(st('Running'), st('Degraded'))).toEqual(['Warning/PhaseDegraded']);
    expect(reasons(st('Degraded'), st('Running'))).toEqual(['Normal/PhaseRunning']);
    expect(reasons({}, st('Pending'))).toEqual([]);
    expect(reasons(st('Pending'), st('Running'), decision({ action: 'initial-promote' }))).toEqual([
      'Normal/Promoted',
    ]);
  });

  it('a cause is an Event when it first appears, with the condition’s message', () => {
    const next = st('Pending', [cond('Ready', 'False', 'LicenceSecretMissing', 'create it')]);
    expect(
      eventsOf(st('Pending', [cond('Ready', 'False', 'WaitingForMembers')]), next, decision(), true),
    ).toEqual([{ type: 'Warning', reason: 'LicenceSecretMissing', message: 'create it' }]);
    // Again the next reconcile: nothing new.
    expect(reasons(next, next)).toEqual([]);
    // The same reason with another message (the cause reached the other member): not news either.
    const both = st('Pending', [cond('Ready', 'False', 'LicenceSecretMissing', 'both members: create it')]);
    expect(reasons(next, both)).toEqual([]);
  });

  it('a cause that moves from one condition to another is announced once', () => {
    const a = st('Running', [
      cond('Ready', 'True', 'LiveMemberServing'),
      cond('StandbyReady', 'False', 'LicenceInvalid'),
    ]);
    const b = st('Unavailable', [
      cond('Ready', 'False', 'LicenceInvalid'),
      cond('LicenceValid', 'False', 'LicenceInvalid'),
    ]);
    expect(reasons(st('Running', [cond('Ready', 'True', 'LiveMemberServing')]), a)).toEqual([
      'Warning/LicenceInvalid',
    ]);
    expect(reasons(a, b)).toEqual(['Warning/PhaseUnavailable']);
  });

  it('warnings of the licence: ExpiringSoon and UpdateRefused', () => {
    const ok = st('Running', [cond('LicenceValid', 'True', 'Valid')]);
    expect(reasons(ok, st('Running', [cond('LicenceValid', 'True', 'ExpiringSoon')]))).toEqual([
      'Warning/ExpiringSoon',
    ]);
    expect(reasons(ok, st('Running', [cond('LicenceValid', 'True', 'UpdateRefused')]))).toEqual([
      'Warning/UpdateRefused',
    ]);
    // Back to Valid is no warning.
    expect(reasons(st('Running', [cond('LicenceValid', 'True', 'UpdateRefused')]), ok)).toEqual([]);
  });

  it('status-derived Events wait for the status write; the action’s Event does not', () => {
    const next = st('Pending', [cond('Ready', 'False', 'ImagePullFailed')]);
    expect(reasons(st('Pending'), next, decision(), false)).toEqual([]);
    expect(reasons(st('Running'), st('FailedOver'), decision({ action: 'failover' }), false)).toEqual([
      'Warning/FailedOver',
    ]);
  });

  it('the status’s Events stand apart from the move’s (recorded before it is carried out: a refused promotion is retried)', () => {
    const d = decision({ action: 'failover', message: 'm' });
    const prev = st('Running', [cond('StandbyReady', 'True', 'StandbyInSync')]);
    const next = st('FailedOver', [cond('StandbyReady', 'False', 'LicenceInvalid', 'refused')]);
    expect(statusEventsOf(prev, next, d, true).map((e) => e.reason)).toEqual(['LicenceInvalid']);
    expect(actionEventOf(d).map((e) => e.reason)).toEqual(['FailedOver']);
    // The next reconcile reads the new status: the cause is not news any more.
    expect(statusEventsOf(next, next, decision(), true)).toEqual([]);
  });

  it('serving alone, then resynced', () => {
    const alone = { member: 'primary' as const, epoch: 2, since: '2027-01-01T00:00:00Z' };
    expect(reasons(st('Running'), st('Running', [], { servingAlone: alone }))).toEqual([
      'Warning/ServingAlone',
    ]);
    expect(reasons(st('Running', [], { servingAlone: alone }), st('Running'))).toEqual(['Normal/Resynced']);
  });
});
