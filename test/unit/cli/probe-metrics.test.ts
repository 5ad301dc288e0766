import { describe, expect, it } from 'vitest';
import {
  LAST_PROBE_METRIC,
  indexProbeTimes,
  probesOfPair,
  samplesOf,
} from '../../../src/cli/probe-metrics.ts';
import type { OperatorReading } from '../../../src/cli/probe-metrics.ts';
import { NOW, leaderMetricsText } from './fixtures.ts';

describe('samplesOf (Prometheus text format)', () => {
  it('reads labels and values of one metric and nothing else', () => {
    const text = [
      '# HELP m help text with m{a="b"} 1 in it',
      'm{a="x",b="y"} 1.5',
      'm_total{a="z"} 7',
      'm 2 1700000000000',
      'other{a="x"} 3',
      '  m{ a = "spaced" } 4  ',
    ].join('\n');
    expect(samplesOf(text, 'm')).toEqual([
      { labels: { a: 'x', b: 'y' }, value: 1.5 },
      { labels: {}, value: 2 },
      { labels: { a: 'spaced' }, value: 4 },
    ]);
  });

  it('unescapes label values and keeps commas, braces and spaces inside them', () => {
    const text = String.raw`m{path="C:\\dir",quote="say \"hi\"",nl="a\nb",odd="x, y} z",} 1`;
    expect(samplesOf(text, 'm')).toEqual([
      { labels: { path: 'C:\\dir', quote: 'say "hi"', nl: 'a\nb', odd: 'x, y} z' }, value: 1 },
    ]);
  });

  it('reads +Inf and -Inf, skips NaN and malformed lines, and handles CRLF', () => {
    const text = [
      'm{a="inf"} +Inf',
      'm{a="ninf"} -Inf',
      'm{a="nan"} NaN',
      'm{a="unterminated} 1',
      'm{a=unquoted} 1',
      'm{="noname"} 1',
      'm{a="novalue"}',
      'm{a="crlf"} 5\r',
    ].join('\n');
    expect(samplesOf(text, 'm')).toEqual([
      { labels: { a: 'inf' }, value: Infinity },
      { labels: { a: 'ninf' }, value: -Infinity },
      { labels: { a: 'crlf' }, value: 5 },
    ]);
  });

  it("reads the operator's last-probe series", () => {
    expect(samplesOf(leaderMetricsText(), LAST_PROBE_METRIC)).toHaveLength(4);
  });
});

describe('indexProbeTimes', () => {
  it('indexes the times by pair and member in ms, and finds the leader', () => {
    const index = indexProbeTimes([
      { pod: 'lpo/op-b', text: leaderMetricsText(false).replace(/^lpo_member.*$/gm, '') },
      { pod: 'lpo/op-a', text: leaderMetricsText() },
    ]);
    expect(index.leaders).toEqual(['lpo/op-a']);
    expect(index.pairs.get('licensing/eda-tools')).toEqual({
      times: {
        primary: { lastFailure: NOW - 1500, lastSuccess: NOW - 252_000 },
        redundant: { lastSuccess: NOW - 1200 },
      },
      pods: ['lpo/op-a'],
    });
    expect(index.pairs.get('other/sim')?.times).toEqual({ primary: { lastSuccess: NOW - 500 } });
  });

  it('takes the newest time of each result when two pods have one (a leader change between reads)', () => {
    const series = (member: string, result: string, seconds: number): string =>
      `${LAST_PROBE_METRIC}{namespace="n",pair="p",member="${member}",result="${result}"} ${seconds}`;
    const index = indexProbeTimes([
      { pod: 'old', text: [series('primary', 'success', 100), series('primary', 'failure', 90)].join('\n') },
      {
        pod: 'new',
        text: [series('primary', 'success', 200), series('tertiary', 'success', 300)].join('\n'),
      },
      {
        pod: 'odd',
        text: [series('primary', 'timeout', 400), `${LAST_PROBE_METRIC}{member="primary"} 1`].join('\n'),
      },
    ]);
    expect([...index.pairs.keys()]).toEqual(['n/p']);
    expect(index.pairs.get('n/p')).toEqual({
      times: { primary: { lastSuccess: 200_000, lastFailure: 90_000 } },
      pods: ['old', 'new'],
    });
  });
});

describe('probesOfPair', () => {
  const read = (failures: string[] = []): OperatorReading => ({
    kind: 'read',
    index: indexProbeTimes([{ pod: 'lpo/op-a', text: leaderMetricsText() }]),
    scraped: ['lpo/op-a'],
    failures,
  });

  it('gives the times of the pair and names the pod they came from', () => {
    expect(probesOfPair(read(), 'licensing', 'eda-tools')).toEqual({
      kind: 'read',
      source: 'lpo/op-a, the leader',
      times: {
        primary: { lastFailure: NOW - 1500, lastSuccess: NOW - 252_000 },
        redundant: { lastSuccess: NOW - 1200 },
      },
    });
  });

  it('says why there are none: not in the metrics read, or a pod that did not answer', () => {
    expect(probesOfPair(read(), 'licensing', 'new-pair')).toEqual({
      kind: 'unavailable',
      reason:
        'the metrics of lpo/op-a have none (the operator has not checked this pair yet, or does not watch its namespace)',
    });
    expect(probesOfPair(read(['lpo/op-b: no answer within 3 s']), 'licensing', 'new-pair')).toEqual({
      kind: 'unavailable',
      reason: 'the metrics of lpo/op-a have none; lpo/op-b: no answer within 3 s',
    });
    const unavailable = { kind: 'unavailable', reason: 'forbidden: no' } as const;
    expect(probesOfPair(unavailable, 'licensing', 'eda-tools')).toEqual(unavailable);
  });
});
