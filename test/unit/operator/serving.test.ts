// The operator's serving table (src/operator/serving.ts): every row, named, and a check that no
// row of the table goes untested.
import { describe, expect, it } from 'vitest';
import { GRANT_EVERY_MS, decideServing, needsAlone, soloGrantMs } from '../../../src/operator/serving.ts';
import type { ServingDecision, ServingInput } from '../../../src/operator/serving.ts';

const NOW = 1_000_000;
const paired: ServingInput = {
  protocol: 'reference',
  live: 'primary',
  moving: false,
  epoch: 4,
  liveConfirmed: true,
  liveReplication: 'in-sync',
  liveServing: { right: 'peer', withoutPeerSeconds: 0, ackedSeq: 90, aloneSeq: 80 },
  liveReportSentAt: NOW - 500,
  standbyInSync: true,
  grantsBindUntil: -Infinity,
  now: NOW,
};
const lost: Partial<ServingInput> = {
  liveReplication: 'disconnected',
  liveServing: { right: 'none', withoutPeerSeconds: 2.5 },
  standbyInSync: false,
};
const alonePrimary = { member: 'primary' as const, epoch: 4, since: NOW - 60_000 };

type Row = {
  row: string;
  name: string;
  input: Partial<ServingInput>;
  expect: Partial<ServingDecision>;
  /** the decision keeps no status.servingAlone */
  noAlone?: true;
};

const rows: Row[] = [
  {
    row: '2',
    name: 'failover to a member whose peer failed: mark the failed one and promote with a grant',
    input: { live: 'redundant', epoch: 5, moving: true, promotingAlone: 'redundant', liveConfirmed: false },
    expect: {
      reason: 'PromoteAlone',
      alone: { member: 'redundant', epoch: 5, since: NOW },
      grant: { member: 'redundant', epoch: 5, withPromotion: true },
    },
  },
  {
    row: '5a',
    name: 'paired again, but the standby has not acknowledged the last change granted alone: wait',
    input: {
      alone: alonePrimary,
      liveServing: { right: 'peer', withoutPeerSeconds: 0, ackedSeq: 79, aloneSeq: 80 },
    },
    expect: { reason: 'WaitingForResync', alone: alonePrimary },
  },
  {
    row: '5b',
    name: 'grants expired, but the live report was read by a check sent before: wait for a newer report',
    input: { alone: alonePrimary, grantsBindUntil: NOW - 100, liveReportSentAt: NOW - 200 },
    expect: { reason: 'WaitingOutGrants', alone: alonePrimary, requeueAt: NOW + 1000 },
  },
  {
    row: '1',
    name: 'protocol none: nothing to grant',
    input: { protocol: 'none', ...lost },
    expect: { reason: 'NotApplicable' },
    noAlone: true,
  },
  {
    row: '3',
    name: 'no live member: no grant, the mark stays',
    input: { live: '', alone: alonePrimary },
    expect: { reason: 'LiveNotConfirmed', alone: alonePrimary },
  },
  {
    row: '3',
    name: 'a promotion in progress: grants wait for the next reconcile',
    input: { moving: true, ...lost },
    expect: { reason: 'LiveNotConfirmed' },
    noAlone: true,
  },
  {
    row: '3',
    name: 'the live member not confirmed active in the epoch (e.g. unreachable): no grant',
    input: { liveConfirmed: false, ...lost, alone: alonePrimary },
    expect: { reason: 'LiveNotConfirmed', alone: alonePrimary },
  },
  {
    row: '4a',
    name: 'serving alone already: keep granting',
    input: { ...lost, alone: alonePrimary },
    expect: { reason: 'ServingAlone', alone: alonePrimary, grant: { member: 'primary', epoch: 4 } },
  },
  {
    row: '4a',
    name: 'serving alone, promoted again in a new epoch: the mark follows the epoch',
    input: { ...lost, epoch: 5, alone: alonePrimary },
    expect: { alone: { ...alonePrimary, epoch: 5 }, grant: { member: 'primary', epoch: 5 } },
  },
  {
    row: '4c',
    name: 'the standby stopped acknowledging for a second: mark it, then grant',
    input: lost,
    expect: {
      reason: 'StartServingAlone',
      alone: { member: 'primary', epoch: 4, since: NOW },
      grant: { member: 'primary', epoch: 4 },
    },
  },
  {
    row: '4c',
    name: 'the standby fell behind (catching up) although connected: mark it, then grant',
    input: { liveReplication: 'catching-up', liveServing: { right: 'peer', withoutPeerSeconds: 0 } },
    expect: { reason: 'StartServingAlone', grant: { member: 'primary', epoch: 4 } },
  },
  {
    row: '4c',
    name: 'the other member was marked, now this one is live and alone: mark this one',
    input: { ...lost, live: 'redundant', alone: alonePrimary },
    expect: {
      alone: { member: 'redundant', epoch: 4, since: NOW },
      grant: { member: 'redundant', epoch: 4 },
    },
  },
  {
    row: '4b',
    name: 'the standby is leaving (its pod deleting) while still acknowledging: mark it and grant at once',
    input: { standbyLeaving: true },
    expect: {
      reason: 'StandbyLeaving',
      alone: { member: 'primary', epoch: 4, since: NOW },
      grant: { member: 'primary', epoch: 4 },
    },
  },
  {
    row: '4b',
    name: 'the standby is leaving and already gone quiet: StandbyLeaving says why',
    input: { ...lost, standbyLeaving: true },
    expect: { reason: 'StandbyLeaving', grant: { member: 'primary', epoch: 4 } },
  },
  {
    row: '4a',
    name: 'the standby is leaving while the live member serves alone already: keep the mark and grant',
    input: { standbyLeaving: true, alone: alonePrimary },
    expect: { reason: 'ServingAlone', alone: alonePrimary, grant: { member: 'primary', epoch: 4 } },
  },
  {
    row: '4b',
    name: 'the other member was marked, now this one is live and its standby leaves: mark this one',
    input: { standbyLeaving: true, alone: { ...alonePrimary, member: 'redundant' } },
    expect: {
      reason: 'StandbyLeaving',
      alone: { member: 'primary', epoch: 4, since: NOW },
      grant: { member: 'primary', epoch: 4 },
    },
  },
  {
    row: '3',
    name: 'the standby is leaving, the live member not confirmed active: no mark, no grant',
    input: { standbyLeaving: true, liveConfirmed: false },
    expect: { reason: 'LiveNotConfirmed' },
    noAlone: true,
  },
  {
    row: '3',
    name: 'the standby is leaving during a move (a handover promotes it): grants wait for the next reconcile',
    input: { standbyLeaving: true, moving: true },
    expect: { reason: 'LiveNotConfirmed' },
    noAlone: true,
  },
  {
    row: '6',
    name: 'the standby is leaving, the server reports no serving rights (older image): never granted',
    input: { standbyLeaving: true, liveServing: undefined },
    expect: { reason: 'Paired' },
    noAlone: true,
  },
  {
    row: '1',
    name: 'the standby is leaving, protocol none: nothing to grant',
    input: { standbyLeaving: true, protocol: 'none' },
    expect: { reason: 'NotApplicable' },
    noAlone: true,
  },
  {
    row: '5a',
    name: 'paired again, the standby not in sync yet: wait, no grant',
    input: { alone: alonePrimary, standbyInSync: false },
    expect: { reason: 'WaitingForResync', alone: alonePrimary },
  },
  {
    row: '5b',
    name: 'resynced, a grant may still be valid: end the grants (else wait them out)',
    input: { alone: alonePrimary, grantsBindUntil: NOW + 4000 },
    expect: {
      reason: 'WaitingOutGrants',
      alone: alonePrimary,
      endGrants: { member: 'primary', epoch: 4 },
      requeueAt: NOW + 4000,
    },
  },
  {
    row: '5c',
    name: 'resynced and every grant expired: promotable again',
    input: { alone: alonePrimary, grantsBindUntil: NOW - 1, liveReportSentAt: NOW },
    expect: { reason: 'Resynced' },
    noAlone: true,
  },
  {
    row: '6',
    name: 'paired: nothing',
    input: {},
    expect: { reason: 'Paired' },
    noAlone: true,
  },
  {
    row: '6',
    name: 'just promoted, the standby connecting (under a second without it): no mark yet',
    input: { liveReplication: 'disconnected', liveServing: { right: 'none', withoutPeerSeconds: 0.4 } },
    expect: { reason: 'Paired' },
    noAlone: true,
  },
  {
    row: '6',
    name: 'a server without serving rights (an older image): never granted',
    input: { liveReplication: 'disconnected', liveServing: undefined },
    expect: { reason: 'Paired' },
    noAlone: true,
  },
];

describe('decideServing: the table', () => {
  it.each(rows.map((r) => [`row ${r.row}: ${r.name}`, r] as const))('%s', (_n, r) => {
    const input = { ...paired, ...r.input };
    if ('liveServing' in r.input && r.input.liveServing === undefined) delete input.liveServing;
    const d = decideServing(input);
    expect(d).toMatchObject(r.expect);
    if (r.noAlone) expect(d.alone).toBeUndefined();
    // a grant is only ever sent to the member the next status marks as serving alone
    if (d.grant) expect(d.alone?.member).toBe(d.grant.member);
    if (!r.expect.grant) expect(d.grant).toBeUndefined();
  });

  it('every row of the table is covered by a named case', () => {
    expect(new Set(rows.map((r) => r.row))).toEqual(
      new Set(['1', '2', '3', '4a', '4b', '4c', '5a', '5b', '5c', '6']),
    );
  });
});

describe('grant length and need', () => {
  it('with leader election, a grant outlives the Lease, a retry period and two renewals after the last one the dead leader sent', () => {
    // Lease 15 s, retry 2 s (the defaults); the leader's last grant may have been anchored a
    // check timeout and a renewal interval before its death.
    for (const timeout of [1, 2]) {
      const handover = 15_000 + 2000;
      const lasts = soloGrantMs(timeout, handover) * 0.95 - 25;
      expect(lasts).toBeGreaterThan(handover + 2 * (GRANT_EVERY_MS + timeout * 1000));
    }
    expect(soloGrantMs(1, 0)).toBe(soloGrantMs(1));
  });

  it('a grant outlives two renewals, each as slow as the check timeout, counted from its anchor', () => {
    for (const timeout of [1, 2, 10])
      expect(soloGrantMs(timeout) * 0.95 - 25).toBeGreaterThan(2 * (GRANT_EVERY_MS + timeout * 1000));
  });

  it('needsAlone: only for a server that reports rights and has lost its standby', () => {
    expect(needsAlone('in-sync', { right: 'peer', withoutPeerSeconds: 0 })).toBe(false);
    expect(needsAlone('disconnected', { right: 'none', withoutPeerSeconds: 1 })).toBe(true);
    expect(needsAlone('catching-up', { right: 'peer' })).toBe(true);
    expect(needsAlone('disconnected', { right: 'unpaired' })).toBe(false);
    expect(needsAlone('disconnected', undefined)).toBe(false);
  });
});
