// Pure helpers for metav1.Condition lists (like k8s.io/apimachinery/pkg/api/meta.SetStatusCondition).
import type { Condition, ConditionStatus } from '../api/pair.ts';

export const CONDITION_READY = 'Ready';
export const CONDITION_DEGRADED = 'Degraded';
export const CONDITION_STANDBY_READY = 'StandbyReady';
/** True while the live member serves without its standby (status.servingAlone). */
export const CONDITION_SERVING_ALONE = 'ServingAlone';
/** Whether a licence is in force, and warnings ahead of its expiry or about a refused update. */
export const CONDITION_LICENCE_VALID = 'LicenceValid';
export const CONDITION_TYPES = [
  CONDITION_READY,
  CONDITION_DEGRADED,
  CONDITION_STANDBY_READY,
  CONDITION_SERVING_ALONE,
  CONDITION_LICENCE_VALID,
] as const;

/** A condition as a decision states it: without times (those come from the clock and the previous list). */
export interface ConditionSpec {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
}

export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True';
}

/**
 * Returns a new list with `c` set. lastTransitionTime changes only when the status changes (or the
 * condition is new); reason, message and observedGeneration are always updated. Order is kept; new
 * conditions are appended.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  c: ConditionSpec,
  now: Date,
  observedGeneration?: number,
): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((x) => x.type === c.type);
  const prev = i >= 0 ? list[i] : undefined;
  const next: Condition = {
    type: c.type,
    status: c.status,
    reason: c.reason,
    message: c.message,
    lastTransitionTime:
      prev && prev.status === c.status
        ? prev.lastTransitionTime
        : now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    ...(observedGeneration !== undefined ? { observedGeneration } : {}),
  };
  if (i >= 0) list[i] = next;
  else list.push(next);
  return list;
}

/** Set several conditions at once. */
export function setConditions(
  conditions: readonly Condition[] | undefined,
  specs: readonly ConditionSpec[],
  now: Date,
  observedGeneration?: number,
): Condition[] {
  let list = [...(conditions ?? [])];
  for (const c of specs) list = setCondition(list, c, now, observedGeneration);
  return list;
}

export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

/** True when setting `specs` would change nothing but times (lets the shell skip a status write). */
export function conditionsEqual(
  conditions: readonly Condition[] | undefined,
  specs: readonly ConditionSpec[],
  observedGeneration?: number,
): boolean {
  return specs.every((s) => {
    const c = findCondition(conditions, s.type);
    return (
      c !== undefined &&
      c.status === s.status &&
      c.reason === s.reason &&
      c.message === s.message &&
      (observedGeneration === undefined || c.observedGeneration === observedGeneration)
    );
  });
}
