// How a pair's health reads in every command: why it is not Ready, a member's health and
// replication, and its conditions.
import type { Condition, MemberStatus } from '../api/pair.ts';
import { age, formatSeconds } from './durations.ts';
import { findCondition } from './pair-object.ts';
import type { PairObject } from './pair-object.ts';
import { indentedTable } from './table.ts';

/** Why a pair is not Ready ('' when it is): the Ready condition's reason and message. */
export function notReadyReason(pair: PairObject): string {
  if (!pair.status) return 'NoStatus: the operator has not reported on this pair yet';
  const ready = findCondition(pair, 'Ready');
  if (!ready) return 'NoReadyCondition: the operator has not set the Ready condition yet';
  if (ready.status === 'True') return '';
  return ready.message ? `${ready.reason}: ${ready.message}` : ready.reason;
}

/** `Healthy`, or `Unhealthy (ProbeFailed)`; `Unknown` when the operator has not reported the member. */
export function memberHealth(ms: MemberStatus | undefined): string {
  if (!ms?.health) return 'Unknown';
  return ms.health !== 'Healthy' && ms.healthReason ? `${ms.health} (${ms.healthReason})` : ms.health;
}

/** `catching-up, lag 120 entries / 1.5s`. */
export function formatReplication(r: MemberStatus['replication']): string {
  if (!r) return 'unknown';
  const lag: string[] = [];
  if (r.lagEntries !== undefined) lag.push(`${r.lagEntries} entries`);
  if (r.lagSeconds !== undefined) lag.push(formatSeconds(r.lagSeconds));
  return lag.length ? `${r.state}, lag ${lag.join(' / ')}` : r.state;
}

/** `Ready=True (LiveMemberServing: redundant serves)`. */
export function conditionInOneLine(c: Condition): string {
  return `${c.type}=${c.status} (${c.reason}${c.message ? `: ${c.message}` : ''})`;
}

/** The conditions as the lines of an indented table (like kubectl describe). */
export function conditionsTable(conditions: Condition[], now: number): string[] {
  return indentedTable(
    ['TYPE', 'STATUS', 'REASON', 'AGE', 'MESSAGE'],
    conditions.map((c) => [c.type, c.status, c.reason, age(c.lastTransitionTime, now), c.message ?? '']),
  );
}
