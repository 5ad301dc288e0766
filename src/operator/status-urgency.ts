// When a status change must be written at once, and when it may wait a few seconds to go out
// with the next one. Pure: two statuses in, a verdict out.
//
// Status is where a restarted or newly elected operator learns which member is live, so what the
// failover decision stands on is written before anything acts on it. Bad news is written at once
// too: a member that stops being healthy, a phase or condition turning worse (alerts and
// `kubectl get lsp` watch these). Everything else (good news, and the fields that only describe a
// member: its pod, address, last check, reported role, replication) may wait: a new pair's pods
// being created, scheduled, given addresses and checked then cost one write with the promotion
// instead of one each, which at a thousand pairs is most of what the API server does.
import { MEMBERS, type Condition, type MemberStatus, type PairStatus, type Phase } from '../api/pair.ts';
import { stableStringify } from './stable-stringify.ts';
import { CONDITION_DEGRADED, CONDITION_READY, CONDITION_STANDBY_READY, findCondition } from './conditions.ts';

export type StatusWrite = 'none' | 'now' | 'may-wait';

/** Fields of the failover state machine: the next reconcile (of this or another operator) reads them back. */
const DECISION_FIELDS = [
  'liveMember',
  'epoch',
  'preferredMember',
  'lastSwitchoverRequest',
  'failoverCount',
  'lastFailover',
  'liveSince',
  // written before any solo grant is sent, and read back by every later decision (R3)
  'servingAlone',
  // a request is handled once: the record is what makes the annotation inert
  'dataLossPromotion',
] as const satisfies readonly (keyof PairStatus)[];

/** Conditions whose True is good news and whose leaving True is bad news (Degraded is the other way round). */
const GOOD_WHEN_TRUE = [CONDITION_READY, CONDITION_STANDBY_READY];

export function statusWrite(prev: PairStatus, next: PairStatus): StatusWrite {
  for (const f of DECISION_FIELDS) if (!same(prev[f], next[f])) return 'now';
  // A spec change acknowledged (`kubectl wait --for=jsonpath=.status.observedGeneration=N`); the
  // first status of a new pair may wait with the rest of it.
  if (prev.observedGeneration !== undefined && prev.observedGeneration !== next.observedGeneration)
    return 'now';
  if (phaseWorse(prev.phase, next.phase)) return 'now';
  for (const m of MEMBERS) if (memberWorse(prev.members?.[m], next.members?.[m])) return 'now';
  if (conditionsWorse(prev.conditions, next.conditions)) return 'now';
  // Compared whole only when nothing above decided: a write that must go now costs no
  // serialisation of both statuses.
  return same(prev, next) ? 'none' : 'may-wait';
}

/** Any phase change is news, but only one towards Running (or a new pair's first Pending) is good news. */
function phaseWorse(prev: Phase | undefined, next: Phase | undefined): boolean {
  if (prev === next) return false;
  if (next === 'Running') return false;
  if (prev === undefined && next === 'Pending') return false;
  return true;
}

/** A member no longer healthy, or found unhealthy; not a new pair's first word on its members. */
function memberWorse(prev: MemberStatus | undefined, next: MemberStatus | undefined): boolean {
  if (prev === undefined || prev.health === next?.health) return false;
  return prev.health === 'Healthy' || next?.health === 'Unhealthy';
}

function conditionsWorse(
  prev: readonly Condition[] | undefined,
  next: readonly Condition[] | undefined,
): boolean {
  const status = (list: readonly Condition[] | undefined, type: string) => findCondition(list, type)?.status;
  for (const type of GOOD_WHEN_TRUE)
    if (status(prev, type) === 'True' && status(next, type) !== 'True') return true;
  return status(prev, CONDITION_DEGRADED) !== 'True' && status(next, CONDITION_DEGRADED) === 'True';
}

/** Equal as JSON, whatever the order of keys (the API server returns them sorted). */
function same(a: unknown, b: unknown): boolean {
  return stableStringify(a) === stableStringify(b);
}
