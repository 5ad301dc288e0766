// How soon a hung or dead live member is known, from two observers (docs/reliability.md,
// "Detection"). The standby hears a heartbeat from its active four times per promise P (every
// 250 ms with the default P of 1 s) on the replication stream. The operator holds a status read
// open on the standby, answered as soon as the standby has heard nothing for half of P: the
// operator then checks the live member at once (with the rest of the check's timeout) instead of
// at its next period, and asks the standby again, to be answered once the silence reaches what the
// decision needs (P, so that the standby's promise to its active has expired by the decision).
// P follows the health check's timeout (peerPromiseMsFor). Pure.

import { DEFAULT_PEER_PROMISE_MS } from '../license-server/serving-rights.ts';

/** The standby's promise (P) with a health-check timeout of a second or more: the members' default. */
export const DEFAULT_PROMISE_MS = DEFAULT_PEER_PROMISE_MS;
/** The shortest P the operator gives a pair: four heartbeats of 100 ms. */
export const MIN_PROMISE_MS = 400;
/** The shortest confirming check: a loaded member still answers a status read well within it. */
export const MIN_CONFIRM_MS = 250;
/**
 * How long the operator's status read on the standby waits for a silence before it is answered
 * (within the member's default request timeout of 10 s, which shortens the wait to fit).
 */
export const SILENCE_WAIT_MS = 8000;

/**
 * The standby's promise to its active (P, LS_PEER_PROMISE_MS) for a health-check timeout: the
 * timeout, between MIN_PROMISE_MS and DEFAULT_PROMISE_MS. A silent fault cannot be decided before
 * P has passed (the promise must have expired, R5), so a sub-second timeout needs a sub-second P
 * to be worth anything; a longer timeout gains nothing from a longer P.
 */
export function peerPromiseMsFor(timeoutMs: number): number {
  return Math.min(DEFAULT_PROMISE_MS, Math.max(MIN_PROMISE_MS, Math.round(timeoutMs)));
}

/** The active's heartbeat for a promise of `promiseMs`: four per promise (two may be lost). */
export function heartbeatMsFor(promiseMs: number): number {
  return Math.round(promiseMs / 4);
}

/** Two of the active's heartbeats (half the promise): a shorter silence says nothing. */
export function earlySilentMs(promiseMs: number): number {
  return promiseMs / 2;
}

/**
 * The standby's silence that confirms one failed check of the live member (assess.ts: PeerLost):
 * the promise itself, so that it has expired by the decision.
 */
export function peerSilentMs(promiseMs: number): number {
  return promiseMs;
}

/**
 * The silence to ask the standby for next, after an answer that reported `silentMs` or more:
 * first the early one, then the one the decision needs; undefined once that is reached (the
 * standby stays silent until the pair moves: ask again a period later).
 */
export function nextSilenceAsk(answered: number | undefined, promiseMs: number): number | undefined {
  if (answered === undefined) return earlySilentMs(promiseMs);
  return answered < peerSilentMs(promiseMs) ? peerSilentMs(promiseMs) : undefined;
}

/**
 * The timeout of the check that confirms the standby's early silence: the rest of the health
 * check's own timeout, so that the member has been unresponsive for that whole timeout, to the
 * standby first and then to the operator, before it counts as a failed check.
 */
export function confirmTimeoutMs(timeoutMs: number): number {
  return Math.max(MIN_CONFIRM_MS, timeoutMs - earlySilentMs(peerPromiseMsFor(timeoutMs)));
}

/**
 * The longest a hung live member goes undecided, once its standby has been following it: the
 * confirming check has failed and the standby has reported the decision's silence, plus one poll
 * of the standby's wait (100 ms).
 */
export function hungDetectionBoundMs(timeoutMs: number): number {
  const p = peerPromiseMsFor(timeoutMs);
  return Math.max(earlySilentMs(p) + confirmTimeoutMs(timeoutMs), peerSilentMs(p)) + 100;
}

/** The health-check timings that bound detection (spec.healthCheck; healthCheckTimeoutMs). */
export type CheckTiming = { periodSeconds: number; timeoutMs: number };

/**
 * The longest a silent fault of the live member (nothing reports it: a hung process, a partition,
 * a lost node) goes undecided under a health-check policy. Without the standby reads the fault
 * waits for the next periodic check (up to one period away) to time out, and for a periodic read
 * of the standby (also each period) that reports the decision's silence (P): whichever comes
 * later, one period plus the longer of the timeout and that silence. The decision (PeerLost) needs
 * no further failures: the failure threshold applies only while the standby still hears its
 * active. With the standby reads the period no longer matters (hungDetectionBoundMs). Faults the
 * platform reports (a pod deleted, a container terminated) are decided on the report and are not
 * bounded by the policy.
 */
export function silentFaultBoundMs(t: CheckTiming, standbyReads: boolean): number {
  const silence = peerSilentMs(peerPromiseMsFor(t.timeoutMs));
  const byChecks = t.periodSeconds * 1000 + Math.max(t.timeoutMs, silence) + 100;
  return standbyReads ? Math.min(byChecks, hungDetectionBoundMs(t.timeoutMs)) : byChecks;
}
