// The times of the operator's last health checks, read from its /metrics text.
//
// The status records a probe result only when it changes (a status write per check would not hold
// at a thousand pairs); the operator keeps the time of the last check of each result in memory and
// exports it as lpo_member_last_probe_timestamp_seconds{namespace,pair,member,result}. Pure: the
// text comes from src/cli/operator-scrape.ts.
import { MEMBERS } from '../api/pair.ts';
import type { Member } from '../api/pair.ts';

export const LAST_PROBE_METRIC = 'lpo_member_last_probe_timestamp_seconds';
/** client-go's leader-election gauge: 1 on the replica that holds the Lease. */
export const LEADER_METRIC = 'leader_election_master_status';

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

const LABEL_NAME = /[a-zA-Z_][a-zA-Z0-9_]*/y;
const ESCAPES: Record<string, string> = { '\\': '\\', '"': '"', n: '\n' };

/** The labels of a sample from `{` on; undefined when the line is malformed. */
function parseLabels(
  line: string,
  start: number,
): { labels: Record<string, string>; end: number } | undefined {
  const labels: Record<string, string> = {};
  let i = start + 1;
  for (;;) {
    while (line[i] === ' ' || line[i] === ',') i++;
    if (line[i] === '}') return { labels, end: i + 1 };
    LABEL_NAME.lastIndex = i;
    const name = LABEL_NAME.exec(line)?.[0];
    if (!name) return undefined;
    i += name.length;
    while (line[i] === ' ') i++;
    if (line[i] !== '=') return undefined;
    i++;
    while (line[i] === ' ') i++;
    if (line[i] !== '"') return undefined;
    i++;
    let value = '';
    for (; i < line.length && line[i] !== '"'; i++) {
      if (line[i] === '\\') {
        i++;
        value += ESCAPES[line[i] ?? ''] ?? `\\${line[i] ?? ''}`;
      } else value += line[i];
    }
    if (i >= line.length) return undefined;
    labels[name] = value;
    i++;
  }
}

function parseValue(token: string): number {
  if (token === '+Inf') return Infinity;
  if (token === '-Inf') return -Infinity;
  return token === '' ? NaN : Number(token);
}

/**
 * The samples of one metric in the Prometheus text exposition format (and OpenMetrics'), in the
 * order they appear. Comments, other metrics and malformed lines are skipped: the text comes from
 * another program, and one bad line should not hide the rest.
 */
export function samplesOf(text: string, metric: string): Sample[] {
  const samples: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line.startsWith(metric)) continue;
    const after = line[metric.length];
    let labels: Record<string, string> = {};
    let rest: string;
    if (after === '{') {
      const parsed = parseLabels(line, metric.length);
      if (!parsed) continue;
      labels = parsed.labels;
      rest = line.slice(parsed.end);
    } else if (after === ' ' || after === '\t') {
      rest = line.slice(metric.length);
    } else continue;
    // `value [timestamp]`: the exporter's own timestamp, when it gives one, is not needed here.
    const value = parseValue(rest.trim().split(/\s+/)[0] ?? '');
    if (!Number.isNaN(value)) samples.push({ labels, value });
  }
  return samples;
}

/** When the operator last checked a member with each result (ms since the epoch). */
export interface MemberProbeTimes {
  lastSuccess?: number;
  lastFailure?: number;
}

export type PairProbeTimes = Partial<Record<Member, MemberProbeTimes>>;

/** The /metrics text of one operator pod, named `namespace/pod`. */
export interface OperatorMetricsText {
  pod: string;
  text: string;
}

/** Probe times of every pair in the operator's metrics. */
export interface ProbeTimesIndex {
  /** by `namespace/name`: the newest time of each result across the pods, and the pods that had them */
  pairs: Map<string, { times: PairProbeTimes; pods: string[] }>;
  /** the pods that say they hold the leader Lease */
  leaders: string[];
}

export const pairKey = (namespace: string, name: string): string => `${namespace}/${name}`;

/**
 * Index the probe times of several operator pods. Only the leader probes, and a replica that loses
 * the Lease exits, so normally one pod has them; when more do (a leader change between two
 * scrapes), the newest time of each result wins.
 */
export function indexProbeTimes(scrapes: OperatorMetricsText[]): ProbeTimesIndex {
  const pairs: ProbeTimesIndex['pairs'] = new Map();
  const leaders: string[] = [];
  for (const { pod, text } of scrapes) {
    if (samplesOf(text, LEADER_METRIC).some((s) => s.value === 1)) leaders.push(pod);
    for (const { labels, value } of samplesOf(text, LAST_PROBE_METRIC)) {
      const member = MEMBERS.find((m) => m === labels.member);
      const field =
        labels.result === 'success' ? 'lastSuccess' : labels.result === 'failure' ? 'lastFailure' : undefined;
      if (!member || !field || !labels.namespace || !labels.pair || !Number.isFinite(value)) continue;
      const key = pairKey(labels.namespace, labels.pair);
      const entry = pairs.get(key) ?? { times: {}, pods: [] };
      const times = (entry.times[member] ??= {});
      times[field] = Math.max(times[field] ?? -Infinity, value * 1000);
      if (!entry.pods.includes(pod)) entry.pods.push(pod);
      pairs.set(key, entry);
    }
  }
  return { pairs, leaders };
}

/** What was read from the operator: its pods' probe times, or why nothing could be read. */
export type OperatorReading =
  | {
      kind: 'read';
      index: ProbeTimesIndex;
      /** the pods whose metrics were read */
      scraped: string[];
      /** `namespace/pod: why`, for pods that did not answer */
      failures: string[];
    }
  | { kind: 'unavailable'; reason: string };

/** What is known about the last checks of one pair. */
export type PairProbes =
  { kind: 'read'; source: string; times: PairProbeTimes } | { kind: 'unavailable'; reason: string };

/** The probe times of one pair, with where they came from, or why there are none. */
export function probesOfPair(reading: OperatorReading, namespace: string, name: string): PairProbes {
  if (reading.kind === 'unavailable') return reading;
  const entry = reading.index.pairs.get(pairKey(namespace, name));
  if (entry) {
    const source = entry.pods
      .map((pod) => (reading.index.leaders.includes(pod) ? `${pod}, the leader` : pod))
      .join('; ');
    return { kind: 'read', source, times: entry.times };
  }
  const read = reading.scraped.length ? `the metrics of ${reading.scraped.join(', ')} have none` : '';
  const failed = reading.failures.join('; ');
  return {
    kind: 'unavailable',
    reason:
      [read, failed].filter(Boolean).join('; ') +
      (reading.failures.length
        ? ''
        : ' (the operator has not checked this pair yet, or does not watch its namespace)'),
  };
}
