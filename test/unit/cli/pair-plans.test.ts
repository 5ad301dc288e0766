import { describe, expect, it } from 'vitest';
import { planFailback, planSwitchover, waitingFor } from '../../../src/cli/switchover-plans.ts';
import { failedOverPair, runningPair } from './fixtures.ts';

const ANN = 'lpo.dev/switchover-request';
const requestValue = '2026-03-01T12:00:00.000Z';

describe('planSwitchover', () => {
  it('defaults to the member that is not live and patches spec.preferredMember', () => {
    expect(planSwitchover(runningPair(), { requestValue })).toEqual({
      kind: 'patch',
      target: 'redundant',
      patch: { spec: { preferredMember: 'redundant' } },
      message: 'switchover to redundant requested (spec.preferredMember=redundant)',
      notes: [],
    });
  });

  it('refuses an unhealthy target and says why (unless --force)', () => {
    const p = runningPair();
    p.status!.members!.redundant = {
      health: 'Unhealthy',
      healthReason: 'ProbeFailed',
      lastProbeMessage: 'timeout after 1s',
    };
    expect(planSwitchover(p, { to: 'redundant', requestValue })).toEqual({
      kind: 'refuse',
      message: 'cannot switch over to redundant: redundant is Unhealthy (ProbeFailed: timeout after 1s)',
    });
    expect(planSwitchover(p, { to: 'redundant', force: true, requestValue }).kind).toBe('patch');
  });

  it('refuses when the operator has not reported the pair or the member', () => {
    const bare = { metadata: { name: 'p' }, spec: {} };
    expect(planSwitchover(bare, { to: 'redundant', requestValue })).toMatchObject({
      kind: 'refuse',
      message: expect.stringMatching(/has not reported the pair’s status/),
    });
    const p = runningPair();
    delete p.status!.members!.redundant;
    expect(planSwitchover(p, { requestValue })).toMatchObject({
      kind: 'refuse',
      message: 'cannot switch over to redundant: the operator has not reported redundant yet',
    });
  });

  it('needs --to when no member is live', () => {
    const p = runningPair();
    p.status!.liveMember = '';
    expect(planSwitchover(p, { requestValue })).toMatchObject({ kind: 'refuse', message: /--to/ });
    expect(planSwitchover(p, { to: 'primary', requestValue })).toMatchObject({
      kind: 'patch',
      patch: { metadata: { annotations: { [ANN]: requestValue } } },
    });
  });

  it('target already live: nothing to do, or only make it preferred', () => {
    expect(planSwitchover(runningPair(), { to: 'primary', requestValue })).toMatchObject({ kind: 'noop' });
    const p = failedOverPair();
    expect(planSwitchover(p, { to: 'redundant', requestValue })).toMatchObject({
      kind: 'patch',
      target: 'redundant',
      patch: { spec: { preferredMember: 'redundant' } },
      message: expect.stringMatching(/already live/),
    });
  });

  it('uses the switchover-request annotation when the target already is preferred', () => {
    const p = failedOverPair();
    p.status!.members!.primary!.health = 'Healthy';
    p.status!.members!.primary!.replication = { state: 'in-sync' };
    expect(planSwitchover(p, { requestValue })).toMatchObject({
      kind: 'patch',
      target: 'primary',
      patch: { metadata: { annotations: { [ANN]: requestValue } } },
      notes: [],
    });
  });

  it('notes a target that is not in sync yet', () => {
    const p = failedOverPair();
    p.status!.members!.primary!.health = 'Healthy';
    const plan = planSwitchover(p, { requestValue });
    expect(plan.kind === 'patch' && plan.notes).toEqual([
      'note: primary is catching-up, lag 120 entries / 1.5s; the operator switches over once it is in sync',
    ]);
  });
});

describe('planFailback', () => {
  it('annotates with a new value to return to the preferred member', () => {
    const p = failedOverPair();
    p.status!.members!.primary!.health = 'Healthy';
    p.status!.members!.primary!.replication = { state: 'in-sync' };
    expect(planFailback(p, { requestValue })).toEqual({
      kind: 'patch',
      target: 'primary',
      patch: { metadata: { annotations: { [ANN]: requestValue } } },
      message: `failback to primary requested (${ANN}=${requestValue})`,
      notes: [],
    });
  });
  it('nothing to do when the preferred member is live', () => {
    expect(planFailback(runningPair(), { requestValue })).toMatchObject({ kind: 'noop', target: 'primary' });
  });
  it('refuses while the preferred member is unhealthy', () => {
    expect(planFailback(failedOverPair(), { requestValue })).toEqual({
      kind: 'refuse',
      message:
        'cannot fail back to primary: primary is Unhealthy (ProbeFailed: connect ECONNREFUSED 10.0.0.5:7071)',
    });
    expect(planFailback(failedOverPair(), { requestValue, force: true }).kind).toBe('patch');
  });
});

describe('waitingFor', () => {
  it('says what the status shows', () => {
    expect(waitingFor(failedOverPair(), 'primary')).toBe(
      'live is redundant; primary is Unhealthy (ProbeFailed); replication catching-up, lag 120 entries / 1.5s; ' +
        'Ready=True (LiveMemberServing: redundant serves); Degraded=True (MemberUnhealthy: primary is unhealthy)',
    );
  });
});
