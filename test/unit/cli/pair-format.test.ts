import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { age, humanDuration, parseDuration } from '../../../src/cli/durations.ts';
import { memberHealth, notReadyReason } from '../../../src/cli/health-format.ts';
import { formatPairTable } from '../../../src/cli/list-table.ts';
import { recentEvents, toPairEvent } from '../../../src/cli/pair-events.ts';
import type { PairEvent, PairObject } from '../../../src/cli/pair-object.ts';
import { formatPairDocument, formatPairSummary } from '../../../src/cli/status-summary.ts';
import { renderTable } from '../../../src/cli/table.ts';
import { NOW, failedOverPair, runningPair } from './fixtures.ts';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

describe('humanDuration (kubectl ages)', () => {
  it.each([
    [-5 * S, '<invalid>'],
    [-500, '0s'],
    [0, '0s'],
    [59 * S, '59s'],
    [119 * S, '119s'],
    [2 * M, '2m'],
    [5 * M + 4 * S, '5m4s'],
    [10 * M + 30 * S, '10m'],
    [179 * M, '179m'],
    [3 * H, '3h'],
    [7 * H + 59 * M, '7h59m'],
    [47 * H, '47h'],
    [2 * D + 5 * H, '2d5h'],
    [3 * D, '3d'],
    [400 * D, '400d'],
    [730 * D, '2y'],
    [731 * D, '2y1d'],
    [9 * 365 * D, '9y'],
  ])('%d ms is %s', (ms, text) => expect(humanDuration(ms)).toBe(text));

  it('ages of strings and Dates; empty without a timestamp', () => {
    expect(age('2026-03-01T11:59:00Z', NOW)).toBe('60s');
    expect(age(new Date(NOW - 3 * H), NOW)).toBe('3h');
    expect(age(undefined, NOW)).toBe('');
    expect(age('not a time', NOW)).toBe('');
  });
});

describe('parseDuration', () => {
  it.each([
    ['60s', 60_000],
    ['60', 60_000],
    ['1.5', 1500],
    ['2m', 120_000],
    ['1m30s', 90_000],
    ['500ms', 500],
    ['1h', 3_600_000],
  ])('%s is %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));
  it.each(['', 's', '10x', '1m junk', '-5s'])('refuses %j', (text) => {
    expect(() => parseDuration(text)).toThrow(/duration/);
  });
});

describe('renderTable', () => {
  it('pads every column but the last by three spaces and trims line ends', () => {
    expect(
      renderTable([
        ['A', 'BB', 'C'],
        ['aaaa', '', ''],
      ]),
    ).toBe('A      BB   C\naaaa');
  });
});

describe('formatPairTable', () => {
  it('has the columns of kubectl get lsp plus the reason when not Ready', () => {
    const down = runningPair('down');
    down.status!.liveMember = '';
    down.status!.phase = 'Unavailable';
    down.status!.conditions = [
      {
        type: 'Ready',
        status: 'False',
        reason: 'NoHealthyMember',
        message: 'both members are unhealthy',
        lastTransitionTime: '2026-03-01T11:00:00Z',
      },
    ];
    const fresh: PairObject = { metadata: { name: 'fresh', creationTimestamp: '2026-03-01T11:59:50Z' } };
    const out = formatPairTable([failedOverPair(), runningPair('b'), down, fresh], { now: NOW }).split('\n');
    expect(out).toEqual([
      'NAME        LIVE        PRIMARY     REDUNDANT   PHASE         FAILOVERS   AGE    REASON',
      'eda-tools   redundant   Unhealthy   Healthy     FailedOver    3           120m',
      'b           primary     Healthy     Healthy     Running       0           90s',
      'down                    Healthy     Healthy     Unavailable   0           90s    NoHealthyMember: both members are unhealthy',
      'fresh                                                                     10s    NoStatus: the operator has not reported on this pair yet',
    ]);
  });

  it('adds NAMESPACE first with -A', () => {
    const out = formatPairTable([failedOverPair()], { now: NOW, allNamespaces: true }).split('\n');
    expect(out[0]).toMatch(/^NAMESPACE\s+NAME\s+LIVE/);
    expect(out[1]).toMatch(/^licensing\s+eda-tools\s+redundant/);
  });

  it('notReadyReason: empty when Ready, the reason alone without a message', () => {
    expect(notReadyReason(runningPair())).toBe('');
    const p = runningPair();
    p.status!.conditions = [];
    expect(notReadyReason(p)).toMatch(/^NoReadyCondition/);
    p.status!.conditions = [
      {
        type: 'Ready',
        status: 'Unknown',
        reason: 'Starting',
        message: '',
        lastTransitionTime: '2026-03-01T11:00:00Z',
      },
    ];
    expect(notReadyReason(p)).toBe('Starting');
  });
});

describe('formatPairSummary', () => {
  const events: PairEvent[] = [
    {
      type: 'Warning',
      reason: 'FailedOver',
      message: 'primary failed (ProbeFailed); redundant promoted with epoch 8',
      count: 1,
      time: '2026-03-01T11:55:00Z',
    },
  ];

  it('shows live member, phase, epoch, both members, last failover, count, conditions and events', () => {
    const out = formatPairSummary(failedOverPair(), events, NOW);
    expect(out).toContain('Live member:    redundant, since 2026-03-01T11:55:00Z (5m ago)');
    expect(out).toContain('Phase:          FailedOver');
    expect(out).toContain('Epoch:          8');
    expect(out).toContain('Failover:       automatic, failback Manual');
    expect(out).toContain('  primary (standby, preferred)');
    expect(out).toContain('    Pod:          eda-tools-primary on node-a (10.0.0.5), ready');
    expect(out).toContain('    Health:       Unhealthy (ProbeFailed)');
    expect(out).toContain(
      '    Checks:       every 2 s; Failure since 2026-03-01T11:59:58Z (2s ago): connect ECONNREFUSED 10.0.0.5:7071 (4 failures in a row)',
    );
    expect(out).toContain('    Replication:  catching-up, lag 120 entries / 1.5s');
    expect(out).toContain('  redundant (live)');
    expect(out).toContain('    Role:         active, epoch 8');
    expect(out).toContain(
      'Last failover:  2026-03-01T11:55:00Z (5m ago): primary → redundant, failover, reason ProbeFailed, detected in 4.2s',
    );
    expect(out).toContain('Failovers:      3');
    expect(out).toMatch(
      /Conditions:\n {2}TYPE\s+STATUS\s+REASON\s+AGE\s+MESSAGE\n {2}Ready\s+True\s+LiveMemberServing\s+5m\s+redundant serves/,
    );
    expect(out).toMatch(/Degraded\s+True\s+MemberUnhealthy\s+5m4s\s+primary is unhealthy/);
    expect(out).toMatch(
      /Events:\n {2}TYPE\s+REASON\s+AGE\s+COUNT\s+MESSAGE\n {2}Warning\s+FailedOver\s+5m\s+1\s+primary failed/,
    );
  });

  it('says which member may grant: with its standby, or alone (and the other not promotable)', () => {
    const p = failedOverPair();
    expect(formatPairSummary(p, [], NOW)).toContain(
      'May grant:      the redundant member, while its standby acknowledges each change (each acknowledgement good for 1s)',
    );
    p.spec!.healthCheck = { periodSeconds: 2 };
    p.status!.servingAlone = { member: 'redundant', epoch: 8, since: '2026-03-01T11:58:00Z' };
    expect(formatPairSummary(p, [], NOW)).toContain(
      "May grant:      the redundant member alone, since 2026-03-01T11:58:00Z (2m ago), on the operator's grants (renewed every second, each outlasting several missed renewals and a leader change); the primary member is not promoted until it has resynced",
    );
    p.status!.liveMember = '';
    delete p.status!.servingAlone;
    expect(formatPairSummary(p, [], NOW)).toContain('May grant:      no member');
  });

  it('says when a switchover or a switchover request is pending', () => {
    const p = failedOverPair();
    p.spec!.preferredMember = 'redundant';
    p.metadata.annotations = { 'lpo.dev/switchover-request': '2026-03-01T11:59:00Z' };
    let out = formatPairSummary(p, [], NOW);
    expect(out).toContain(
      'Preferred:      redundant (switchover pending: the operator still acts on primary)',
    );
    expect(out).toContain('Switchover req: 2026-03-01T11:59:00Z (pending)');
    p.status!.lastSwitchoverRequest = '2026-03-01T11:59:00Z';
    out = formatPairSummary(p, [], NOW);
    expect(out).toContain('Switchover req: 2026-03-01T11:59:00Z (handled)');
  });

  it('a pair without status, a pair with no live member and no failover yet', () => {
    const bare = formatPairSummary({ metadata: { name: 'x', namespace: 'y' } }, [], NOW);
    expect(bare).toContain('Status:         not reported yet (is the operator running?)');
    expect(bare).toContain('Conditions:\n  <none>');
    expect(bare).toContain('Events:\n  <none>');
    const p = runningPair();
    p.status!.liveMember = '';
    p.status!.members = { primary: { health: 'Unhealthy', healthReason: 'PodDeleted' } };
    const out = formatPairSummary(p, [], NOW);
    expect(out).toContain('Live member:    <none> (no member serves)');
    expect(out).toContain('Last failover:  never');
    expect(out).toContain('  redundant\n    not reported yet');
    expect(out).toContain('    Pod:          <none>');
  });

  it('memberHealth', () => {
    expect(memberHealth(undefined)).toBe('Unknown');
    expect(memberHealth({ health: 'Healthy', healthReason: 'stale' })).toBe('Healthy');
    expect(memberHealth({ health: 'Unknown', healthReason: 'NoProbeYet' })).toBe('Unknown (NoProbeYet)');
  });
});

describe('events', () => {
  it('toPairEvent takes the series, lastTimestamp, eventTime or creation time', () => {
    const base = { metadata: { creationTimestamp: new Date('2026-03-01T10:00:00Z') }, involvedObject: {} };
    expect(
      toPairEvent({
        ...base,
        type: 'Normal',
        reason: 'SwitchedOver',
        message: 'line one\n  line two',
        count: 3,
        lastTimestamp: new Date('2026-03-01T11:00:00Z'),
      }),
    ).toEqual({
      type: 'Normal',
      reason: 'SwitchedOver',
      message: 'line one line two',
      count: 3,
      time: '2026-03-01T11:00:00.000Z',
    });
    const viaEventsApi = toPairEvent({
      ...base,
      eventTime: new Date('2026-03-01T11:30:00Z'),
      series: { count: 7, lastObservedTime: new Date('2026-03-01T11:45:00Z') },
    });
    expect(viaEventsApi).toMatchObject({ count: 7, time: '2026-03-01T11:45:00.000Z', type: '', reason: '' });
    expect(toPairEvent(base).time).toBe('2026-03-01T10:00:00.000Z');
  });

  it('recentEvents keeps the last ones, oldest first', () => {
    const ev = (i: number): PairEvent => ({
      type: 'Normal',
      reason: `R${i}`,
      message: '',
      count: 1,
      time: new Date(NOW - (20 - i) * M).toISOString(),
    });
    const all = Array.from({ length: 15 }, (_, i) => ev(i)).reverse();
    expect(recentEvents(all).map((e) => e.reason)).toEqual(Array.from({ length: 10 }, (_, i) => `R${i + 5}`));
    expect(recentEvents(all, 2).map((e) => e.reason)).toEqual(['R13', 'R14']);
  });
});

describe('formatPairDocument', () => {
  it('prints JSON or YAML without managedFields', () => {
    const json = JSON.parse(formatPairDocument(failedOverPair(), 'json')) as PairObject;
    expect(json.metadata.managedFields).toBeUndefined();
    expect(json.status?.liveMember).toBe('redundant');
    const yaml = YAML.parse(formatPairDocument(failedOverPair(), 'yaml')) as PairObject;
    expect(yaml).toEqual(json);
  });
});
