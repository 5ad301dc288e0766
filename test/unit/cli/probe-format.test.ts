import { describe, expect, it } from 'vitest';
import { formatPairTable } from '../../../src/cli/list-table.ts';
import {
  formatChecks,
  formatLastProbes,
  formatNewestProbe,
  formatProbeSource,
  probeAge,
  probesOverdue,
} from '../../../src/cli/probe-format.ts';
import type { PairProbes } from '../../../src/cli/probe-metrics.ts';
import { formatPairSummary } from '../../../src/cli/status-summary.ts';
import { NOW, failedOverPair, runningPair } from './fixtures.ts';

const S = 1000;

describe('probeAge', () => {
  it.each([
    [0, '0 s'],
    [1500, '1 s'],
    [119 * S, '119 s'],
    [120 * S, '2m'],
    [252 * S, '4m12s'],
    [3 * 3600 * S, '3h'],
    [-3 * S, '0 s'],
  ])('%d ms is %s', (ms, text) => expect(probeAge(ms)).toBe(text));
});

describe('probesOverdue', () => {
  it('after three periods, and never before 10 s', () => {
    expect(probesOverdue(6 * S, 2)).toBe(false);
    expect(probesOverdue(10 * S, 2)).toBe(false);
    expect(probesOverdue(10 * S + 1, 2)).toBe(true);
    expect(probesOverdue(30 * S, 10)).toBe(false);
    expect(probesOverdue(31 * S, 10)).toBe(true);
  });
});

describe('formatLastProbes', () => {
  it('says when the last check of each result ran, the most recent first', () => {
    expect(formatLastProbes({ lastSuccess: NOW - 1200 }, 2, NOW)).toBe('last ok 1 s ago');
    expect(formatLastProbes({ lastSuccess: NOW - 252 * S, lastFailure: NOW - 3 * S }, 2, NOW)).toBe(
      'last failure 3 s ago, last ok 4m12s ago',
    );
    expect(formatLastProbes({ lastSuccess: NOW - 1 * S, lastFailure: NOW - 600 * S }, 2, NOW)).toBe(
      'last ok 1 s ago, last failure 10m ago',
    );
  });

  it('says when the checks stopped, and when there has been none', () => {
    expect(formatLastProbes({ lastSuccess: NOW - 14 * 60 * S }, 2, NOW)).toBe('last ok 14m ago (overdue)');
    expect(formatLastProbes({}, 2, NOW)).toBe("no check in the operator's metrics yet");
  });
});

describe('formatNewestProbe (pair list -o wide)', () => {
  it('the newest check and its result', () => {
    expect(formatNewestProbe({ lastSuccess: NOW - 1200 }, 2, NOW)).toBe('ok 1 s ago');
    expect(formatNewestProbe({ lastSuccess: NOW - 9 * S, lastFailure: NOW - 3 * S }, 2, NOW)).toBe(
      'failure 3 s ago',
    );
    expect(formatNewestProbe({ lastFailure: NOW - 60 * S }, 2, NOW)).toBe('failure 60 s ago (overdue)');
    expect(formatNewestProbe(undefined, 2, NOW)).toBe('<none>');
  });
});

describe('formatChecks', () => {
  const pair = failedOverPair();
  const primary = pair.status!.members!.primary!;

  it("with the operator's times: how often, the last checks, and since when the result holds", () => {
    expect(formatChecks(primary, pair, NOW, { lastFailure: NOW - 1500, lastSuccess: NOW - 252 * S })).toBe(
      'probing every 2 s, last failure 1 s ago, last ok 4m12s ago; Failure since 2026-03-01T11:59:58Z (2s ago): connect ECONNREFUSED 10.0.0.5:7071 (4 failures in a row)',
    );
    expect(formatChecks({ health: 'Unknown' }, pair, NOW, {})).toBe(
      "probing every 2 s, no check in the operator's metrics yet; no result in the status yet",
    );
  });

  it('without them: the status alone, which never calls its time the last check', () => {
    expect(formatChecks(primary, pair, NOW)).toBe(
      'every 2 s; Failure since 2026-03-01T11:59:58Z (2s ago): connect ECONNREFUSED 10.0.0.5:7071 (4 failures in a row)',
    );
    expect(formatChecks({ health: 'Unknown' }, pair, NOW)).toBe('every 2 s; no result yet');
  });

  it("uses the pair's period", () => {
    const p = runningPair();
    p.spec!.healthCheck = { periodSeconds: 10 };
    const ms = { lastProbeResult: 'Success' as const, lastProbeTime: '2026-03-01T11:40:00Z' };
    expect(formatChecks(ms, p, NOW, { lastSuccess: NOW - 25 * S })).toBe(
      'probing every 10 s, last ok 25 s ago; Success since 2026-03-01T11:40:00Z (20m ago)',
    );
  });
});

describe('formatProbeSource', () => {
  it('where the times came from, or why they are unknown', () => {
    expect(formatProbeSource({ kind: 'read', source: 'lpo/op-a, the leader', times: {} })).toBe(
      "from the operator's metrics (lpo/op-a, the leader)",
    );
    expect(formatProbeSource({ kind: 'unavailable', reason: 'forbidden: no' })).toBe(
      'unknown (forbidden: no); the Checks lines say only since when each result has held',
    );
  });
});

describe('pair status and pair list -o wide with probe times', () => {
  const read: PairProbes = {
    kind: 'read',
    source: 'lpo/op-a, the leader',
    times: {
      primary: { lastFailure: NOW - 1500, lastSuccess: NOW - 252 * S },
      redundant: { lastSuccess: NOW - 1200 },
    },
  };

  it('status: a Probe times line, and each member says when it was last checked', () => {
    const out = formatPairSummary(failedOverPair(), [], NOW, read);
    expect(out).toContain("Probe times:    from the operator's metrics (lpo/op-a, the leader)\n\nMembers:");
    expect(out).toContain(
      '    Checks:       probing every 2 s, last failure 1 s ago, last ok 4m12s ago; Failure since 2026-03-01T11:59:58Z (2s ago)',
    );
    expect(out).toContain(
      '    Checks:       probing every 2 s, last ok 1 s ago; Success since 2026-03-01T11:59:59Z (1s ago)',
    );
  });

  it('status: when they are unknown, it says so once and the members show the status alone', () => {
    const out = formatPairSummary(failedOverPair(), [], NOW, {
      kind: 'unavailable',
      reason: 'forbidden: no',
    });
    expect(out).toContain(
      'Probe times:    unknown (forbidden: no); the Checks lines say only since when each result has held',
    );
    expect(out).toContain('    Checks:       every 2 s; Success since 2026-03-01T11:59:59Z (1s ago)');
    expect(out).not.toContain('probing');
  });

  it('status of a pair without status has no Probe times line', () => {
    expect(formatPairSummary({ metadata: { name: 'x' } }, [], NOW, read)).not.toContain('Probe times');
  });

  it('list -o wide: each member’s newest check before REASON', () => {
    const down = runningPair('down');
    down.status!.conditions = [
      {
        type: 'Ready',
        status: 'False',
        reason: 'Starting',
        message: '',
        lastTransitionTime: '2026-03-01T11:00:00Z',
      },
    ];
    const out = formatPairTable([failedOverPair(), down], {
      now: NOW,
      probesOf: (p) => (p.metadata.name === 'eda-tools' ? read : { kind: 'unavailable', reason: 'none' }),
    }).split('\n');
    expect(out).toEqual([
      'NAME        LIVE        PRIMARY     REDUNDANT   PHASE        FAILOVERS   AGE    PRIMARY CHECK     REDUNDANT CHECK   REASON',
      'eda-tools   redundant   Unhealthy   Healthy     FailedOver   3           120m   failure 1 s ago   ok 1 s ago',
      'down        primary     Healthy     Healthy     Running      0           90s    <unknown>         <unknown>         Starting',
    ]);
  });
});
