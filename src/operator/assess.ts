// The assessment of one member for the failover decision: healthy, failed (and how, since when),
// eligible to take over. Pure, from the member's observation, the policy and the other member's;
// then the pair's status.servingAlone may mark one of them not promotable.
import type { Member } from '../api/pair.ts';
import { notPromotable } from './observation.ts';
import type { LicenceSecretCheck, MemberObservation, Policy } from './observation.ts';
import { DEFAULT_PROMISE_MS, peerSilentMs } from './detection.ts';
import { licenceCause, podCause } from './diagnosis.ts';
import type { CauseReason } from './diagnosis.ts';
import type { ServingAlone } from './serving.ts';

// ---------------------------------------------------------------------------------------------
// Assessment of one member

export type MemberReason =
  | 'Healthy'
  | 'NotProbed'
  | 'ProbeFailing'
  | 'ProbeFailed'
  | 'PeerLost'
  | 'PodMissing'
  | 'PodDeleted'
  | 'PodPending'
  | 'PodNotReady'
  | 'ContainerTerminated'
  | 'NodeNotReady'
  | CauseReason;

export interface MemberAssessment {
  /** For status.members.<m>.health (printer columns). */
  health: 'Healthy' | 'Unhealthy' | 'Unknown';
  reason: MemberReason;
  message: string;
  /** Confirmed failure: an immediate signal, or failureThreshold failed checks. */
  failed: boolean;
  /** The failure came from a pod/node signal rather than the health check. */
  immediate: boolean;
  /** Running, no failure signal, successThreshold successful checks in a row. */
  healthy: boolean;
  /** Start of the failure, when known, ms. */
  failingSince?: number;
  /** Replication is in-sync, or the server does not report it (protocol none / no report). */
  inSync: boolean;
  /** May take over from a failed live member: healthy and not known to be catching up. */
  eligibleForFailover: boolean;
  /** May take over gracefully (switchover, failback): healthy and in sync. */
  eligibleForSwitchover: boolean;
  /** Since when it has been healthy (and in sync, when reported), ms. */
  stableSince?: number;
  /** The server says it is active. */
  reportsActive: boolean;
  /** The pod's Ready condition is True: the Service would route to it. */
  podReady: boolean;
  /** It may not be promoted: the other member served alone, and it has not resynced (status.servingAlone). */
  notPromotable?: boolean;
  /**
   * Its pod is being deleted (a drain, an eviction, a rollout) but its container still runs and
   * its last checks passed: failed, since it goes, but it can still step down cleanly.
   */
  leaving?: true;
}

/**
 * The standby's view of the live member, as evidence that a failed health check is not a blip of
 * the operator's own path to it: the standby followed the active recently (within
 * PEER_RECENT_SECONDS) but has heard nothing over replication — four heartbeats per promise — for
 * the promise P (`promiseMs`, detection.ts), in a report read no earlier than the check that
 * failed was sent.
 */
export const PEER_RECENT_SECONDS = 60;

export function standbyLostLive(
  live: MemberObservation,
  standby: MemberObservation | undefined,
  promiseMs = DEFAULT_PROMISE_MS,
): boolean {
  const silentSeconds = peerSilentMs(promiseMs) / 1000;
  const report = standby?.server;
  const failedAt = live.probe.firstFailureAt;
  if (live.probe.consecutiveFailures < 1 || failedAt === undefined || !report) return false;
  if (report.role !== 'standby' || report.at === undefined || report.peerLastSeenSeconds === undefined)
    return false;
  // A report older than the failed check says nothing about it (a check fails at most its timeout
  // after it was sent; that much silence before that would already be the fault).
  if (report.at < failedAt - silentSeconds * 1000) return false;
  return report.peerLastSeenSeconds >= silentSeconds && report.peerLastSeenSeconds <= PEER_RECENT_SECONDS;
}

export function assess(
  m: MemberObservation,
  isLive: boolean,
  liveSince: number | undefined,
  p: Policy,
  peer?: MemberObservation,
  licenceSecret?: LicenceSecretCheck,
): MemberAssessment {
  const server = p.protocol === 'reference' ? m.server : undefined;
  const inSync = server === undefined || server.replication === 'in-sync' || server.replication === 'none';
  const base = { inSync, reportsActive: server?.role === 'active', podReady: m.pod?.ready ?? false };
  const fail = (
    reason: MemberReason,
    message: string,
    immediate: boolean,
    since?: number,
  ): MemberAssessment => ({
    ...base,
    health: 'Unhealthy',
    reason,
    message,
    failed: true,
    immediate,
    healthy: false,
    ...(since !== undefined ? { failingSince: since } : {}),
    eligibleForFailover: false,
    eligibleForSwitchover: false,
  });
  const pod = m.pod;
  if (!pod) return fail('PodMissing', 'the pod does not exist', true);
  if (pod.deleting) {
    const deleted = fail('PodDeleted', 'the pod is being deleted', true, pod.deletionRequestedAt);
    return answersWhileLeaving(m, p)
      ? { ...deleted, leaving: true, message: 'the pod is being deleted; the member still answers' }
      : deleted;
  }
  if (m.node && m.node.ready !== 'True') {
    return fail('NodeNotReady', `the node is not ready (Ready=${m.node.ready})`, true, m.node.transitionAt);
  }
  if (pod.phase === 'Failed' || pod.phase === 'Succeeded') {
    return fail('ContainerTerminated', `the pod has phase ${pod.phase}`, true, pod.terminatedAt);
  }
  const cause = podCause(pod, licenceSecret, p.licence);
  if (pod.containerTerminated) {
    if (cause?.reason === 'CrashLooping') return fail(cause.reason, cause.message, true, pod.terminatedAt);
    return fail('ContainerTerminated', 'the licence-server container terminated', true, pod.terminatedAt);
  }
  if (pod.phase !== 'Running') {
    // A pod that does not run cannot serve; for a standby this is "starting", unless a cause says
    // it will not start by itself.
    const [reason, message] = cause
      ? [cause.reason, cause.message]
      : (['PodPending', `the pod has phase ${pod.phase}`] as const);
    if (isLive) return fail(reason, message, true);
    return { ...notYet(reason, message), ...base, ...(cause ? { health: 'Unhealthy' as const } : {}) };
  }
  // A member without a licence in force cannot serve, however well it answers.
  const refused = server ? licenceCause(server.licence, p.licence) : undefined;
  if (refused) return fail(refused.reason, refused.message, true);
  // The live member's pod went NotReady while it was live (the kubelet's readiness probe already
  // applied its own threshold). Not-ready from before it became live (starting up, or a standby
  // that lost its active and is now promoted in its place) does not count. Both times are whole
  // seconds, so a transition in the second of the promotion is taken as before it: the promoted
  // standby's own NotReady, reported a moment after, would otherwise fail the pair over from the
  // member it just promoted (and the operator's checks still see a member that fails after).
  if (isLive && !pod.ready) {
    const at = pod.readyTransitionAt;
    if (at === undefined || liveSince === undefined || at > liveSince) {
      return fail('PodNotReady', 'the pod is not ready', true, at);
    }
  }
  // Two observers agree: the operator's check failed and the standby lost the replication stream.
  // Waiting for failureThreshold checks would only add periods to the outage.
  if (isLive && p.protocol === 'reference' && standbyLostLive(m, peer, p.promiseMs)) {
    return fail(
      'PeerLost',
      `a health check failed and the standby has not heard from it for ${peer!.server!.peerLastSeenSeconds!.toFixed(1)} s`,
      false,
      m.probe.firstFailureAt,
    );
  }
  if (m.probe.consecutiveFailures >= p.failureThreshold) {
    return fail(
      'ProbeFailed',
      `${m.probe.consecutiveFailures} health checks failed in a row`,
      false,
      m.probe.firstFailureAt,
    );
  }
  if (m.probe.consecutiveSuccesses < p.successThreshold) {
    const reason: MemberReason = m.probe.consecutiveFailures > 0 ? 'ProbeFailing' : 'NotProbed';
    const msg =
      m.probe.consecutiveFailures > 0
        ? `${m.probe.consecutiveFailures} health check(s) failed (threshold ${p.failureThreshold})`
        : `${m.probe.consecutiveSuccesses} of ${p.successThreshold} successful health checks`;
    return { ...notYet(reason, msg), ...base };
  }
  const healthySince = m.probe.successSince;
  const syncSince = server && server.replication === 'in-sync' ? server.inSyncSince : undefined;
  const stableSince =
    healthySince === undefined
      ? undefined
      : server && server.replication === 'in-sync'
        ? syncSince === undefined
          ? healthySince
          : Math.max(healthySince, syncSince)
        : healthySince;
  return {
    ...base,
    health: 'Healthy',
    reason: 'Healthy',
    message: inSync ? 'healthy' : `healthy, replication ${server?.replication}`,
    failed: false,
    immediate: false,
    healthy: true,
    eligibleForFailover: server === undefined || server.replication !== 'catching-up',
    eligibleForSwitchover: inSync,
    ...(stableSince !== undefined ? { stableSince } : {}),
  };
}

/** A deleting pod whose container still runs and passes its checks (a preStop hook holds it). */
function answersWhileLeaving(m: MemberObservation, p: Policy): boolean {
  const pod = m.pod;
  return (
    pod?.phase === 'Running' &&
    !pod.containerTerminated &&
    m.probe.consecutiveFailures === 0 &&
    m.probe.consecutiveSuccesses >= p.successThreshold
  );
}

function notYet(
  reason: MemberReason,
  message: string,
): Omit<MemberAssessment, 'inSync' | 'reportsActive' | 'podReady'> {
  return {
    health: 'Unknown',
    reason,
    message,
    failed: false,
    immediate: false,
    healthy: false,
    eligibleForFailover: false,
    eligibleForSwitchover: false,
  };
}

// ---------------------------------------------------------------------------------------------
// The mark of an episode of serving alone

/** A member `status.servingAlone` marks cannot take over, however healthy (R5, docs/reliability.md). */
export function withPromotability(
  a: Record<Member, MemberAssessment>,
  alone: ServingAlone | undefined,
): Record<Member, MemberAssessment> {
  const m = notPromotable(alone);
  if (m === undefined || alone === undefined) return a;
  const since = new Date(alone.since).toISOString();
  return {
    ...a,
    [m]: {
      ...a[m],
      notPromotable: true,
      eligibleForFailover: false,
      eligibleForSwitchover: false,
      message: `${a[m].healthy ? 'healthy, but ' : `${a[m].message}; `}not promotable until it has resynced (the ${alone.member} member has served alone since ${since})`,
    },
  };
}
