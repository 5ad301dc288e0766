// The Events of one reconcile, from the status before and after it and the decision: one Event
// per change, with the reason a user searches for (docs/api.md, "Events"). Pure; the reconciler
// records them (the recorder aggregates a repeat into the count of one Event).
import { ANNOTATION_PROMOTE_ACCEPTING_DATA_LOSS } from '../api/pair.ts';
import type { Condition, PairStatus } from '../api/pair.ts';
import { CONDITION_LICENCE_VALID, CONDITION_READY, CONDITION_STANDBY_READY } from './conditions.ts';
import { CERTIFICATES_READY } from './tls/certificate-condition.ts';
import { PROVIDED_DEFECTS } from './tls/provided-check.ts';
import { CAUSE_REASONS } from './diagnosis.ts';
import type { Decision } from './decision.ts';

export interface PairEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export const ACTION_EVENTS: Record<string, { type: 'Normal' | 'Warning'; reason: string }> = {
  'initial-promote': { type: 'Normal', reason: 'Promoted' },
  failover: { type: 'Warning', reason: 'FailedOver' },
  failback: { type: 'Normal', reason: 'FailedBack' },
  switchover: { type: 'Normal', reason: 'SwitchedOver' },
  'serve-first-recovered': { type: 'Normal', reason: 'Recovered' },
  'fence-only': { type: 'Warning', reason: 'Fenced' },
  repromote: { type: 'Normal', reason: 'Repromoted' },
  'promote-accepting-data-loss': { type: 'Warning', reason: 'PromotedWithDataLoss' },
};

/** Condition reasons that are a problem a person must fix, or a warning ahead of one. */
export const WARNING_REASONS: readonly string[] = [
  ...CAUSE_REASONS,
  'ExpiringSoon',
  'UpdateRefused',
  'IssueFailed',
  'PlaintextOptOut',
  ...PROVIDED_DEFECTS,
  'CheckFailed',
  'RenewalOverdue',
];

/** The conditions whose new warning reason is an Event (Ready first: it names what a user sees). */
const CAUSE_CONDITIONS = [
  CONDITION_READY,
  CONDITION_STANDBY_READY,
  CONDITION_LICENCE_VALID,
  CERTIFICATES_READY,
];

/** Every Event of a reconcile: the move's, and what the written status says. */
export function eventsOf(prev: PairStatus, next: PairStatus, d: Decision, written: boolean): PairEvent[] {
  return [...actionEventOf(d), ...statusEventsOf(prev, next, d, written)];
}

/**
 * The Event of the move a decision makes (recorded once the move is carried out). A promotion
 * accepting data loss is announced with the status write that records it instead (statusEventsOf):
 * when the promotion call fails, the next reconcile repeats it as a repromote, and the record of
 * what was given up must not go without its Event.
 */
export function actionEventOf(d: Decision): PairEvent[] {
  const action = moveEventOf(d);
  return action && d.action !== 'promote-accepting-data-loss' ? [{ ...action, message: d.message }] : [];
}

function moveEventOf(d: Decision): { type: 'Normal' | 'Warning'; reason: string } | undefined {
  return d.action === 'none' ? undefined : ACTION_EVENTS[d.action];
}

/**
 * The Events of what the new status says. `written`: it was written in this reconcile; they go out
 * with the write, so that a change that waits for a later write is not announced twice, and
 * before the move is carried out, so that a move that fails (and is retried) does not lose them:
 * the next reconcile reads the new status already.
 */
export function statusEventsOf(
  prev: PairStatus,
  next: PairStatus,
  d: Decision,
  written: boolean,
): PairEvent[] {
  const out: PairEvent[] = [];
  const action = moveEventOf(d);
  if (!written) return out;
  const was = prev.servingAlone;
  const alone = next.servingAlone;
  if (alone && (!was || was.member !== alone.member))
    out.push({
      type: 'Warning',
      reason: 'ServingAlone',
      message: `the ${alone.member} member serves alone (epoch ${alone.epoch}); the other member is not promoted until it has resynced`,
    });
  else if (was && !alone)
    out.push({
      type: 'Normal',
      reason: 'Resynced',
      message: `${d.serving.message} (the ${was.member} member served alone since ${was.since})`,
    });
  const request = next.dataLossPromotion;
  if (request && request.request !== prev.dataLossPromotion?.request)
    out.push(
      request.outcome === 'Promoted'
        ? {
            type: 'Warning',
            reason: 'PromotedWithDataLoss',
            // who asked for the loss, and for which episode
            message: `${request.message} (${ANNOTATION_PROMOTE_ACCEPTING_DATA_LOSS}=${request.request})`,
          }
        : {
            type: 'Warning',
            reason: 'DataLossPromotionRefused',
            message: `${ANNOTATION_PROMOTE_ACCEPTING_DATA_LOSS}=${request.request} refused (${request.reason}): ${request.message}`,
          },
    );
  // A phase change says what the action's Event already said; alone it is news. A new pair's
  // first phase is not (the Promoted Event follows).
  const firstPhase = prev.phase === undefined || (prev.phase === 'Pending' && d.action === 'initial-promote');
  if (!action && next.phase && prev.phase !== next.phase && !firstPhase) {
    const warn = next.phase === 'Unavailable' || next.phase === 'Degraded';
    out.push({ type: warn ? 'Warning' : 'Normal', reason: `Phase${next.phase}`, message: d.message });
  }
  // A cause is news once: when no condition named it before (it often reaches the standby's
  // condition, the licence's and Ready one after the other).
  const known = new Set(CAUSE_CONDITIONS.map((t) => condition(prev.conditions, t)?.reason));
  for (const e of [...out, ...(action ? [action] : [])]) known.add(e.reason);
  for (const type of CAUSE_CONDITIONS) {
    const c = condition(next.conditions, type);
    if (!c || !WARNING_REASONS.includes(c.reason) || known.has(c.reason)) continue;
    out.push({ type: 'Warning', reason: c.reason, message: c.message });
    known.add(c.reason);
  }
  return out;
}

function condition(list: readonly Condition[] | undefined, type: string): Condition | undefined {
  return list?.find((c) => c.type === type);
}
