import { describe, expect, it } from 'vitest';
import { LicenseServerPairSchema } from '../../../src/api/pair.ts';
import type { PairStatus } from '../../../src/api/pair.ts';
import {
  dataLossRequestValue,
  judgeDataLossPromotion,
  parseDataLossRequest,
} from '../../../src/operator/data-loss-promotion.ts';
import type { DataLossInput, DataLossVerdict } from '../../../src/operator/data-loss-promotion.ts';
import { PendingDataLossEvents } from '../../../src/operator/data-loss-events.ts';
import type { Decision } from '../../../src/operator/decision.ts';
import { decide } from '../../../src/operator/failover.ts';
import { EMPTY_PROBE_HISTORY } from '../../../src/operator/observation.ts';
import type { Observation } from '../../../src/operator/observation.ts';
import { actionEventOf, statusEventsOf } from '../../../src/operator/pair-events.ts';
import { nextStatus } from '../../../src/operator/status-builder.ts';
import { POLICY, S, T0, member, notProbed, probeFailed, steady, type Patch } from './decision-fixtures.ts';

const SINCE = T0 - 60 * S;
const SINCE_ISO = new Date(SINCE).toISOString().replace('.000Z', 'Z');
const ALONE = { member: 'primary' as const, epoch: 3, since: SINCE };
const OK_REQUEST = `redundant@${SINCE_ISO}#2026-01-01T03:00:00Z`;

describe('the request value', () => {
  it('is <member>@<servingAlone.since>, with an optional #<request id>', () => {
    expect(dataLossRequestValue('redundant', SINCE_ISO)).toBe(`redundant@${SINCE_ISO}`);
    expect(parseDataLossRequest(dataLossRequestValue('redundant', SINCE_ISO, 'abc'))).toEqual({
      member: 'redundant',
      since: SINCE,
      id: 'abc',
    });
    // The milliseconds status never writes do not matter: the same instant is the same episode.
    expect(parseDataLossRequest(`primary@${new Date(SINCE).toISOString()}`)).toEqual({
      member: 'primary',
      since: SINCE,
    });
    expect(parseDataLossRequest(` redundant@${SINCE_ISO} `)?.member).toBe('redundant');
  });

  it.each([
    'redundant',
    'redundant@',
    'standby@2026-01-01T00:00:00Z',
    'redundant@yesterday',
    `redundant ${SINCE_ISO}`,
    '',
  ])('refuses %j', (v) => expect(parseDataLossRequest(v)).toBeUndefined());
});

/** A request that fits: the primary served alone and is fenced, the redundant member healthy, grants over. */
const fits: DataLossInput = {
  request: OK_REQUEST,
  alone: ALONE,
  live: '',
  aloneMemberEligible: false,
  candidate: { eligible: true, message: 'healthy' },
  grantsBindUntil: T0 - 1,
  now: T0,
};

interface Row {
  row: string;
  name: string;
  input: Partial<DataLossInput>;
  expect: Partial<DataLossVerdict> & { kind: DataLossVerdict['kind'] };
}

const rows: Row[] = [
  {
    row: '1',
    name: 'not a request',
    input: { request: 'yes please' },
    expect: { kind: 'refuse', cause: 'Malformed' },
  },
  {
    row: '2',
    name: 'no member is marked not promotable',
    input: { alone: undefined },
    expect: { kind: 'refuse', cause: 'NoEpisode' },
  },
  {
    row: '3',
    name: 'a value left from an earlier episode',
    input: { request: `redundant@${new Date(SINCE - 3600 * S).toISOString()}` },
    expect: { kind: 'refuse', cause: 'StaleEpisode' },
  },
  {
    row: '3',
    name: 'a later episode of the same member',
    input: { alone: { ...ALONE, since: SINCE + S } },
    expect: { kind: 'refuse', cause: 'StaleEpisode' },
  },
  {
    row: '4',
    name: 'it names the member that served alone',
    input: { request: `primary@${SINCE_ISO}` },
    expect: { kind: 'refuse', cause: 'WrongMember' },
  },
  {
    row: '5',
    name: 'the member that served alone is still live (not fenced yet)',
    input: { live: 'primary' },
    expect: {
      kind: 'refuse',
      cause: 'PairServed',
      message: 'the primary member is live (not fenced): the override applies only once no member serves',
    },
  },
  {
    row: '5',
    name: 'the member named is live already',
    input: { live: 'redundant' },
    expect: { kind: 'refuse', cause: 'PairServed' },
  },
  {
    row: '6',
    name: 'the member that served alone is back',
    input: { aloneMemberEligible: true },
    expect: { kind: 'refuse', cause: 'ServedAloneMemberBack' },
  },
  {
    row: '7',
    name: 'the member to promote is not healthy',
    input: { candidate: { eligible: false, message: '1 of 2 successful health checks' } },
    expect: { kind: 'wait', cause: 'MemberNotHealthy', member: 'redundant' },
  },
  {
    row: '8',
    name: 'a grant to the member that served alone may still be valid',
    input: { grantsBindUntil: T0 + 5 * S },
    expect: { kind: 'wait', cause: 'GrantMayBeValid', member: 'redundant', until: T0 + 5 * S },
  },
  {
    row: '8',
    name: 'the grant bound is this very moment: still waiting (the bound is exclusive)',
    input: { grantsBindUntil: T0 + 0.5 },
    expect: { kind: 'wait', cause: 'GrantMayBeValid' },
  },
  {
    row: '9',
    name: 'everything fits',
    input: {},
    expect: {
      kind: 'promote',
      member: 'redundant',
      lost: ALONE,
      message: `promoting the redundant member, accepting the loss of what the primary member acknowledged alone since ${new Date(SINCE).toISOString()} (epoch 3)`,
    },
  },
  {
    row: '9',
    name: 'the grants were ended explicitly (their bound is the end) or never sent',
    input: { grantsBindUntil: -Infinity },
    expect: { kind: 'promote', member: 'redundant' },
  },
];

describe('judgeDataLossPromotion: the rows', () => {
  it.each(rows.map((r) => [`row ${r.row}: ${r.name}`, r] as const))('%s', (_n, r) => {
    const input = { ...fits, ...r.input };
    if ('alone' in r.input && r.input.alone === undefined) delete input.alone;
    expect(judgeDataLossPromotion(input)).toMatchObject(r.expect);
  });

  it('every row decides at least one case', () => {
    expect(new Set(rows.map((r) => r.row))).toEqual(new Set(['1', '2', '3', '4', '5', '6', '7', '8', '9']));
  });
});

// The decision around it: the rows of failover.ts, with a request.
const lost = member('standby', { pod: null, server: null });
/** The member not promotable: healthy, and it lost its active (disconnected). */
const waiting = (patch: Patch = {}, epoch = 1) =>
  member('standby', { server: { replication: 'disconnected', peerLastSeenSeconds: 30 }, ...patch }, epoch);
const fenced = { liveMember: '' as const, epoch: 3, servingAlone: ALONE };
const withRequest = (o: Observation, request = OK_REQUEST, grantsBindUntil = T0 - 1): Observation => ({
  ...o,
  dataLossRequest: request,
  grantsBindUntil,
});

describe('decide with a request', () => {
  it('without a request nothing changes: the member not promotable stays so (row 2)', () => {
    const d = decide({ ...steady(lost, waiting(), fenced), grantsBindUntil: T0 - 1 }, POLICY, T0);
    expect(d).toMatchObject({ row: '2', action: 'none', reason: 'StandbyNotPromotable', live: '' });
    expect(d.dataLoss).toBeUndefined();
  });

  it('refused: the move is the one without it, and the verdict says why', () => {
    const stale = decide(
      withRequest(steady(lost, waiting(), fenced), `redundant@${new Date(SINCE - S).toISOString()}`),
      POLICY,
      T0,
    );
    expect(stale).toMatchObject({ row: '2', action: 'none', reason: 'StandbyNotPromotable' });
    expect(stale.dataLoss?.verdict).toMatchObject({ kind: 'refuse', cause: 'StaleEpisode' });
  });

  it('the member that served alone comes back: it is served (row 1), the request refused', () => {
    const d = decide(withRequest(steady(member('standby', {}, 3), waiting(), fenced)), POLICY, T0);
    expect(d).toMatchObject({ row: '1', action: 'serve-first-recovered', live: 'primary', epoch: 4 });
    expect(d.dataLoss?.verdict).toMatchObject({ kind: 'refuse', cause: 'ServedAloneMemberBack' });
  });

  it('the live member that served alone has failed but is not fenced yet: fenced now, the request refused', () => {
    const d = decide(
      withRequest(
        steady(member('active', probeFailed(), 3), waiting(), { ...fenced, liveMember: 'primary' }),
      ),
      POLICY,
      T0,
    );
    expect(d).toMatchObject({ row: '7', action: 'fence-only', live: '', fence: 'primary' });
    expect(d.dataLoss?.verdict).toMatchObject({ kind: 'refuse', cause: 'PairServed' });
  });

  it('the member to promote is not healthy yet: pending without a timer (its checks wake the pair)', () => {
    const d = decide(withRequest(steady(lost, waiting(notProbed), fenced)), POLICY, T0);
    expect(d).toMatchObject({ row: '2b', action: 'none', live: '' });
    expect(d.requeueAfterMs).toBeUndefined();
    expect(d.dataLoss?.verdict).toMatchObject({ kind: 'wait', cause: 'MemberNotHealthy' });
  });

  it('catching up (its peer still feeds it) is not eligible either', () => {
    const d = decide(
      withRequest(steady(lost, waiting({ server: { replication: 'catching-up' } }), fenced)),
      POLICY,
      T0,
    );
    expect(d.dataLoss?.verdict).toMatchObject({ kind: 'wait', cause: 'MemberNotHealthy' });
    expect(d.promote).toBeUndefined();
  });

  it('waits out the grants, then promotes at the bound: the epoch above every known one', () => {
    const o = withRequest(steady(lost, waiting({}, 3), fenced), OK_REQUEST, T0 + 4 * S);
    const early = decide(o, POLICY, T0);
    expect(early).toMatchObject({ row: '2b', requeueAfterMs: 4000, epoch: 3 });
    expect(early.conditions.find((c) => c.type === 'Ready')?.message).toContain(
      'a promotion accepting data loss is pending',
    );
    const d = decide(o, POLICY, T0 + 4 * S);
    expect(d).toMatchObject({ row: '2a', promote: 'redundant', fence: 'primary', epoch: 4 });
  });

  it('with protocol none there is never an episode: refused, and the ordinary rows serve', () => {
    const d = decide(
      withRequest(steady(lost, waiting(), { liveMember: '', epoch: 3 })),
      { ...POLICY, protocol: 'none' },
      T0,
    );
    expect(d.dataLoss?.verdict).toMatchObject({ kind: 'refuse', cause: 'NoEpisode' });
    // Nothing marks the member: it is served as any recovered member is, losing nothing.
    expect(d).toMatchObject({ row: '1', action: 'serve-first-recovered' });
  });
});

describe('the shell’s outputs', () => {
  const pair = LicenseServerPairSchema.parse({
    metadata: { name: 'eda', namespace: 'licensing', generation: 1 },
    spec: { server: { license: { secretName: 'lic' } } },
  });
  const next = (d: Decision, prev: PairStatus = {}) =>
    nextStatus(
      pair,
      prev,
      d,
      { primary: undefined, redundant: undefined },
      () => ({ history: EMPTY_PROBE_HISTORY }),
      T0,
      undefined,
    );

  it('carried out: status records the request, the member, its epoch and the episode given up', () => {
    const d = decide(withRequest(steady(lost, waiting(), fenced)), POLICY, T0);
    const s = next(d);
    expect(s.dataLossPromotion).toEqual({
      request: OK_REQUEST,
      outcome: 'Promoted',
      reason: 'DataLossAccepted',
      message: d.dataLoss!.verdict.message,
      time: new Date(T0).toISOString().replace('.000Z', 'Z'),
      member: 'redundant',
      epoch: 4,
      servedAlone: { member: 'primary', epoch: 3, since: SINCE_ISO },
    });
    expect(s).toMatchObject({
      liveMember: 'redundant',
      epoch: 4,
      servingAlone: { member: 'redundant', epoch: 4 },
    });
    expect(s.lastFailover).toMatchObject({
      from: '',
      to: 'redundant',
      action: 'promote-accepting-data-loss',
    });
    // Announced with the write that records it (a failed promotion call is repeated as a
    // repromote, and must not lose the Event), not again as the move's.
    expect(actionEventOf(d)).toEqual([]);
    const prev: PairStatus = {
      liveMember: '',
      epoch: 3,
      phase: 'Unavailable',
      servingAlone: { member: 'primary', epoch: 3, since: SINCE_ISO },
    };
    const events = statusEventsOf(prev, s, d, true);
    const event = events.find((e) => e.reason === 'PromotedWithDataLoss');
    expect(event).toEqual({
      type: 'Warning',
      reason: 'PromotedWithDataLoss',
      message: `${d.message} (lpo.dev/promote-accepting-data-loss=${OK_REQUEST})`,
    });
    expect(event!.message).toContain(`since ${new Date(SINCE).toISOString()} (epoch 3)`);
    // The phase changed with the move: no Phase Event besides (the move's Event says it).
    expect(events.map((e) => e.reason)).not.toContain('PhaseFailedOver');
    expect(statusEventsOf(s, s, d, true).map((e) => e.reason)).not.toContain('PromotedWithDataLoss');
  });

  it('refused: recorded once, with a Warning Event', () => {
    const d = decide(withRequest(steady(lost, waiting(), fenced), `primary@${SINCE_ISO}`), POLICY, T0);
    const s = next(d);
    expect(s.dataLossPromotion).toMatchObject({
      outcome: 'Refused',
      reason: 'WrongMember',
      request: `primary@${SINCE_ISO}`,
    });
    expect(s.liveMember).toBe('');
    const events = statusEventsOf({}, s, d, true).filter((e) => e.reason === 'DataLossPromotionRefused');
    expect(events).toHaveLength(1);
    expect(events[0]!.message).toMatch(/refused \(WrongMember\): it names the primary member/);
    // Already recorded: no second Event.
    expect(statusEventsOf(s, s, d, true).map((e) => e.reason)).not.toContain('DataLossPromotionRefused');
  });

  it('pending: nothing recorded (it is not handled), one Warning Event per request and cause', () => {
    const o = withRequest(steady(lost, waiting(), fenced), OK_REQUEST, T0 + 4 * S);
    const d = decide(o, POLICY, T0);
    expect(next(d).dataLossPromotion).toBeUndefined();
    const pending = new PendingDataLossEvents();
    expect(pending.of('ns/eda', d).map((e) => `${e.type}/${e.reason}`)).toEqual([
      'Warning/DataLossPromotionPending',
    ]);
    expect(pending.of('ns/eda', d)).toEqual([]);
    const unhealthy = decide(withRequest(steady(lost, waiting(notProbed), fenced)), POLICY, T0);
    expect(pending.of('ns/eda', unhealthy)[0]?.message).toContain('(MemberNotHealthy)');
    // Carried out: the wait is over, and a later wait is news again.
    expect(pending.of('ns/eda', decide(o, POLICY, T0 + 4 * S))).toEqual([]);
    expect(pending.of('ns/eda', d)).toHaveLength(1);
  });
});
