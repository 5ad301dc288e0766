// How soon a hung or dead live member is known, from two observers (docs/reliability.md,
// "Detection"). The standby hears a heartbeat from its active every 250 ms on the replication
// stream. The operator holds a status read open on the standby, answered as soon as the standby
// has heard nothing for EARLY_SILENT_MS: the operator then checks the live member at once (with
// the rest of the check's timeout) instead of at its next period, and asks the standby again,
// to be answered once the silence reaches what the decision needs (PEER_SILENT_SECONDS, at least
// the standby's promise to its active, so that the promise has expired by the decision). Pure.

/** Two of the active's heartbeats (LS_HEARTBEAT_MS, 250 ms): a shorter silence says nothing. */
export const EARLY_SILENT_MS = 500;
/** The standby's silence that confirms one failed check of the live member (assess.ts: PeerLost). */
export const PEER_SILENT_SECONDS = 1;
/** The shortest confirming check: a loaded member still answers a status read well within it. */
export const MIN_CONFIRM_MS = 250;
/**
 * How long the operator's status read on the standby waits for a silence before it is answered
 * (within the member's default request timeout of 10 s, which shortens the wait to fit).
 */
export const SILENCE_WAIT_MS = 8000;

/**
 * The silence to ask the standby for next, after an answer that reported `silentMs` or more:
 * first the early one, then the one the decision needs; undefined once that is reached (the
 * standby stays silent until the pair moves: ask again a period later).
 */
export function nextSilenceAsk(answered: number | undefined): number | undefined {
  if (answered === undefined) return EARLY_SILENT_MS;
  return answered < PEER_SILENT_SECONDS * 1000 ? PEER_SILENT_SECONDS * 1000 : undefined;
}

/**
 * The timeout of the check that confirms the standby's early silence: the rest of the health
 * check's own timeout, so that the member has been unresponsive for that whole timeout, to the
 * standby first and then to the operator, before it counts as a failed check.
 */
export function confirmTimeoutMs(timeoutMs: number): number {
  return Math.max(MIN_CONFIRM_MS, timeoutMs - EARLY_SILENT_MS);
}

/**
 * The longest a hung live member goes undecided, once its standby has been following it: the
 * confirming check has failed and the standby has reported the decision's silence, plus one poll
 * of the standby's wait (100 ms).
 */
export function hungDetectionBoundMs(timeoutMs: number): number {
  return Math.max(EARLY_SILENT_MS + confirmTimeoutMs(timeoutMs), PEER_SILENT_SECONDS * 1000) + 100;
}

/** The health-check timings that bound detection (spec.healthCheck). */
export type CheckTiming = { periodSeconds: number; timeoutSeconds: number };

/**
 * The longest a silent fault of the live member (nothing reports it: a hung process, a partition,
 * a lost node) goes undecided under a health-check policy. Without the standby reads the fault
 * waits for the next periodic check (up to one period away) to time out, and for a periodic read
 * of the standby (also each period) that reports PEER_SILENT_SECONDS of silence: whichever comes
 * later, one period plus the longer of the timeout and that silence. The decision (PeerLost) needs
 * no further failures: the failure threshold applies only while the standby still hears its
 * active. With the standby reads the period no longer matters (hungDetectionBoundMs). Faults the
 * platform reports (a pod deleted, a container terminated) are decided on the report and are not
 * bounded by the policy.
 */
export function silentFaultBoundMs(t: CheckTiming, standbyReads: boolean): number {
  const byChecks = (t.periodSeconds + Math.max(t.timeoutSeconds, PEER_SILENT_SECONDS)) * 1000 + 100;
  return standbyReads ? Math.min(byChecks, hungDetectionBoundMs(t.timeoutSeconds * 1000)) : byChecks;
}
