// How the operator's health checks of a member read: how often they run, when the last one of each
// result ran (from the operator's metrics, src/cli/probe-metrics.ts), and since when the result has
// been what it is (from the status, which records a result only when it changes).
import type { MemberStatus } from '../api/pair.ts';
import { humanDuration, when } from './durations.ts';
import { probePeriodSeconds } from './pair-object.ts';
import type { PairObject } from './pair-object.ts';
import type { MemberProbeTimes, PairProbes } from './probe-metrics.ts';

/**
 * `1 s`, `59 s`, then kubectl's ages (`2m`, `5m4s`, `3h`). A time slightly ahead of this machine's
 * clock (the operator's clock differs a little) reads `0 s`.
 */
export function probeAge(ms: number): string {
  const seconds = Math.floor(Math.max(0, ms) / 1000);
  return seconds < 120 ? `${seconds} s` : humanDuration(ms);
}

/**
 * No check for three periods: the operator is not checking this member (it stopped, lost the
 * Lease, or is overloaded). At least 10 s, so that one slow round of checks is not news.
 */
export function probesOverdue(newestAgeMs: number, periodSeconds: number): boolean {
  return newestAgeMs > Math.max(10_000, 3 * periodSeconds * 1000);
}

type Probe = { label: 'ok' | 'failure'; at: number };

/** The member's last checks, the most recent first. */
function lastProbes(times: MemberProbeTimes): Probe[] {
  const probes: Probe[] = [];
  if (times.lastSuccess !== undefined) probes.push({ label: 'ok', at: times.lastSuccess });
  if (times.lastFailure !== undefined) probes.push({ label: 'failure', at: times.lastFailure });
  return probes.sort((a, b) => b.at - a.at);
}

/** `last ok 1 s ago`, `last failure 1 s ago, last ok 4m12s ago`, with `(overdue)` when they stopped. */
export function formatLastProbes(times: MemberProbeTimes, periodSeconds: number, now: number): string {
  const probes = lastProbes(times);
  if (probes.length === 0) return "no check in the operator's metrics yet";
  const text = probes.map((p) => `last ${p.label} ${probeAge(now - p.at)} ago`).join(', ');
  return probesOverdue(now - probes[0]!.at, periodSeconds) ? `${text} (overdue)` : text;
}

/** A column of `pair list -o wide`: the member's newest check, `ok 1 s ago` or `failure 3 s ago`. */
export function formatNewestProbe(
  times: MemberProbeTimes | undefined,
  periodSeconds: number,
  now: number,
): string {
  const newest = times ? lastProbes(times)[0] : undefined;
  if (!newest) return '<none>';
  const text = `${newest.label} ${probeAge(now - newest.at)} ago`;
  return probesOverdue(now - newest.at, periodSeconds) ? `${text} (overdue)` : text;
}

/** `Failure since 2026-03-01T11:59:58Z (2s ago): connect ECONNREFUSED (4 failures in a row)`. */
function resultSince(ms: MemberStatus, now: number): string {
  let out = `${ms.lastProbeResult} since ${when(ms.lastProbeTime, now)}`;
  if (ms.lastProbeMessage) out += `: ${ms.lastProbeMessage}`;
  if (ms.consecutiveFailures) out += ` (${ms.consecutiveFailures} failures in a row)`;
  return out;
}

/**
 * The `Checks` line of a member. With the operator's probe times (`times`):
 * `probing every 2 s, last ok 1 s ago; Success since … (19m ago)`. Without them, the status alone:
 * `every 2 s; Success since … (19m ago)`, a time that is that of the last change of the result, so it
 * is never called the last check.
 */
export function formatChecks(
  ms: MemberStatus,
  pair: PairObject,
  now: number,
  times?: MemberProbeTimes,
): string {
  const period = probePeriodSeconds(pair);
  if (!times) return `every ${period} s; ${ms.lastProbeResult ? resultSince(ms, now) : 'no result yet'}`;
  const since = ms.lastProbeResult ? resultSince(ms, now) : 'no result in the status yet';
  return `probing every ${period} s, ${formatLastProbes(times, period, now)}; ${since}`;
}

/** The summary's `Probe times` line: where the last-check times come from, or why there are none. */
export function formatProbeSource(probes: PairProbes): string {
  if (probes.kind === 'read') return `from the operator's metrics (${probes.source})`;
  return `unknown (${probes.reason}); the Checks lines say only since when each result has held`;
}
