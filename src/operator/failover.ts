// The failover decision: a pure function from observations + policy + clock to a decision.
// No I/O and no clock of its own: `now` (ms since the epoch) is an argument. The reconciler (the
// shell) gathers the observation, calls decide(), carries the decision out and writes status.
//
// How the shell carries out a decision (order matters: never two live members):
//   1. write status (liveMember, epoch, …) — the intent is durable; a restarted operator repeats
//      the rest (a live member that reports `standby` is promoted again: action `repromote`),
//   2. if `fence`: when nobody is promoted, point the client Service at nothing; demote the
//      fenced member through the admin API with `epoch` (best effort: it may be unreachable;
//      awaited only when it is healthy, as in a switchover),
//   3. if `promote`: POST /v1/admin/promote {epoch, force: fence !== undefined}, then
//   4. point the client Service at `live` (or at nothing when `live` is '').
import type { PairSpec } from '../api/pair.ts';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import type { ConditionSpec } from './conditions.ts';
import {
  CONDITION_DEGRADED,
  CONDITION_READY,
  CONDITION_SERVING_ALONE,
  CONDITION_STANDBY_READY,
} from './conditions.ts';
import { decideServing } from './serving.ts';
import type { ServingAlone, ServingDecision, ServingReport } from './serving.ts';

export type Member = 'primary' | 'redundant';
export type LiveMember = Member | '';
export const MEMBER_LIST: readonly Member[] = ['primary', 'redundant'];

export function other(m: Member): Member {
  return m === 'primary' ? 'redundant' : 'primary';
}

// ---------------------------------------------------------------------------------------------
// Observation

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

export interface PodObservation {
  phase: PodPhase;
  /** metadata.deletionTimestamp is set. */
  deleting: boolean;
  /** When the deletion was requested (deletionTimestamp − deletionGracePeriodSeconds), ms. */
  deletionRequestedAt?: number;
  /** The pod's Ready condition is True. */
  ready: boolean;
  /** lastTransitionTime of the Ready condition, ms. */
  readyTransitionAt?: number;
  /** The licence-server container is terminated, or waiting after a crash (CrashLoopBackOff, Error…). */
  containerTerminated: boolean;
  /** When the container terminated (state.terminated.finishedAt or lastState), ms. */
  terminatedAt?: number;
}

export interface NodeObservation {
  /** The node's Ready condition; a missing node that the pod is bound to counts as 'Unknown'. */
  ready: 'True' | 'False' | 'Unknown';
  /** lastTransitionTime of the node's Ready condition, ms. */
  transitionAt?: number;
}

/** The operator's own health-check history of one member. Maintain it with recordProbe(). */
export interface ProbeHistory {
  consecutiveSuccesses: number;
  consecutiveFailures: number;
  lastSuccessAt?: number;
  lastFailureAt?: number;
  /** Start of the current failure streak (first failed check), ms. */
  firstFailureAt?: number;
  /** Start of the current success streak (first successful check), ms. */
  successSince?: number;
}

export type ReplicationState = 'in-sync' | 'catching-up' | 'disconnected' | 'none';

/** What the reference server reports on /v1/status. Maintain inSyncSince with recordServerReport(). */
export interface ServerReport {
  role: 'active' | 'standby';
  epoch: number;
  replication: ReplicationState;
  lagEntries?: number;
  lagSeconds?: number;
  /** Since when replication.state has been 'in-sync' without interruption, ms. */
  inSyncSince?: number;
  /** Seconds since this member last heard from its peer over replication (the standby: from the active). */
  peerLastSeenSeconds?: number;
  /** The serving right it holds (servers that predate serving rights do not report it). */
  serving?: ServingReport;
  /** When the check that read the report was sent, ms (a report says nothing of what came later). */
  sentAt?: number;
  /** When the report was read, ms. */
  at?: number;
}

export interface MemberObservation {
  /** undefined: the member has no pod. */
  pod?: PodObservation;
  /** undefined: the pod is not bound to a node (or no pod). */
  node?: NodeObservation;
  probe: ProbeHistory;
  /** undefined: protocol `none`, or /v1/status not answered (yet). */
  server?: ServerReport;
}

export interface StatusObservation {
  /** status.liveMember ('' or absent: none). */
  liveMember: LiveMember;
  /** status.epoch (0 when never promoted). */
  epoch: number;
  /** status.lastFailover.time, ms. */
  lastFailoverAt?: number;
  /** status.liveSince, ms. */
  liveSince?: number;
  /** status.failoverCount. */
  failoverCount: number;
  /** status.preferredMember: the preferredMember the operator has acted on (undefined: none yet). */
  preferredMember?: Member;
  /** status.servingAlone: the other member is not promotable until it has resynced. */
  servingAlone?: ServingAlone;
}

export interface Observation {
  members: Record<Member, MemberObservation>;
  status: StatusObservation;
  /** A person asked for a switchover to the preferred member now (a new lpo.dev/switchover-request value). */
  switchoverRequested?: boolean;
  /** Until when a solo grant this operator (or its predecessor) sent may still be valid, ms. */
  grantsBindUntil?: number;
}

export interface Policy {
  enabled: boolean;
  delaySeconds: number;
  failback: 'Automatic' | 'Manual';
  failbackStableSeconds: number;
  minSecondsBetweenFailovers: number;
  preferredMember: Member;
  failureThreshold: number;
  successThreshold: number;
  protocol: 'reference' | 'none';
}

/** The member `status.servingAlone` marks as not promotable, if any. */
export function notPromotable(alone: ServingAlone | undefined): Member | undefined {
  return alone === undefined ? undefined : other(alone.member);
}

export function policyFromSpec(spec: PairSpec): Policy {
  return {
    enabled: spec.failover.enabled,
    delaySeconds: spec.failover.delaySeconds,
    failback: spec.failover.failback,
    failbackStableSeconds: spec.failover.failbackStableSeconds,
    minSecondsBetweenFailovers: spec.failover.minSecondsBetweenFailovers,
    preferredMember: spec.preferredMember,
    failureThreshold: spec.healthCheck.failureThreshold,
    successThreshold: spec.healthCheck.successThreshold,
    protocol: spec.server.protocol,
  };
}

// ---------------------------------------------------------------------------------------------
// History helpers (pure; the prober keeps their results per member and resets them when the pod's
// UID changes)

export const EMPTY_PROBE_HISTORY: ProbeHistory = { consecutiveSuccesses: 0, consecutiveFailures: 0 };

export function recordProbe(h: ProbeHistory, ok: boolean, now: number): ProbeHistory {
  if (ok) {
    return {
      consecutiveSuccesses: h.consecutiveSuccesses + 1,
      consecutiveFailures: 0,
      lastSuccessAt: now,
      ...(h.lastFailureAt !== undefined ? { lastFailureAt: h.lastFailureAt } : {}),
      successSince: h.consecutiveSuccesses > 0 && h.successSince !== undefined ? h.successSince : now,
    };
  }
  return {
    consecutiveSuccesses: 0,
    consecutiveFailures: h.consecutiveFailures + 1,
    ...(h.lastSuccessAt !== undefined ? { lastSuccessAt: h.lastSuccessAt } : {}),
    lastFailureAt: now,
    firstFailureAt: h.consecutiveFailures > 0 && h.firstFailureAt !== undefined ? h.firstFailureAt : now,
  };
}

/** Merge a new /v1/status answer (or undefined when it failed) into the previous report, keeping inSyncSince. */
export function recordServerReport(
  prev: ServerReport | undefined,
  next: Omit<ServerReport, 'inSyncSince'> | undefined,
  now: number,
): ServerReport | undefined {
  if (next === undefined) return undefined;
  if (next.replication !== 'in-sync') return { ...next, at: now };
  const since = prev?.replication === 'in-sync' && prev.inSyncSince !== undefined ? prev.inSyncSince : now;
  return { ...next, inSyncSince: since, at: now };
}

function ms(t: Date | string | undefined | null): number | undefined {
  if (t === undefined || t === null) return undefined;
  const v = t instanceof Date ? t.getTime() : Date.parse(t);
  return Number.isFinite(v) ? v : undefined;
}

/** Build a PodObservation from a pod (undefined when there is none). */
export function observePod(
  pod: V1Pod | undefined,
  containerName = 'license-server',
): PodObservation | undefined {
  if (!pod) return undefined;
  const st = pod.status;
  const ready = st?.conditions?.find((c) => c.type === 'Ready');
  const cs = st?.containerStatuses?.find((c) => c.name === containerName);
  const waitingReason = cs?.state?.waiting?.reason;
  const crashed =
    cs?.state?.terminated !== undefined ||
    (waitingReason !== undefined &&
      ['CrashLoopBackOff', 'Error', 'RunContainerError', 'CreateContainerError'].includes(waitingReason) &&
      (cs?.restartCount ?? 0) > 0) ||
    waitingReason === 'CrashLoopBackOff';
  const deletionTs = ms(pod.metadata?.deletionTimestamp as Date | string | undefined);
  const grace = pod.metadata?.deletionGracePeriodSeconds ?? 0;
  const terminatedAt = ms(
    (cs?.state?.terminated?.finishedAt ?? cs?.lastState?.terminated?.finishedAt) as Date | string | undefined,
  );
  const readyAt = ms(ready?.lastTransitionTime as Date | string | undefined);
  return {
    phase: (st?.phase as PodPhase | undefined) ?? 'Pending',
    deleting: deletionTs !== undefined,
    ...(deletionTs !== undefined ? { deletionRequestedAt: deletionTs - grace * 1000 } : {}),
    ready: ready?.status === 'True',
    ...(readyAt !== undefined ? { readyTransitionAt: readyAt } : {}),
    containerTerminated: crashed,
    ...(crashed && terminatedAt !== undefined ? { terminatedAt } : {}),
  };
}

/** Build a NodeObservation: `pod` bound to `node`; a bound pod whose node is gone counts as Unknown. */
export function observeNode(pod: V1Pod | undefined, node: V1Node | undefined): NodeObservation | undefined {
  if (!pod?.spec?.nodeName) return undefined;
  if (!node) return { ready: 'Unknown' };
  const c = node.status?.conditions?.find((x) => x.type === 'Ready');
  const at = ms(c?.lastTransitionTime as Date | string | undefined);
  const ready = c?.status === 'True' ? 'True' : c?.status === 'False' ? 'False' : 'Unknown';
  return { ready, ...(at !== undefined ? { transitionAt: at } : {}) };
}

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
  | 'NodeNotReady';

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
  /** It may not be promoted: the other member served alone, and it has not resynced (status.servingAlone). */
  notPromotable?: boolean;
}

/**
 * The standby's view of the live member, as evidence that a failed health check is not a blip of
 * the operator's own path to it: the standby followed the active recently (within
 * PEER_RECENT_SECONDS) but has heard nothing over replication — heartbeats come every 250 ms — for
 * PEER_SILENT_SECONDS, in a report read no earlier than the check that failed was sent.
 */
export const PEER_SILENT_SECONDS = 1;
export const PEER_RECENT_SECONDS = 60;

export function standbyLostLive(live: MemberObservation, standby: MemberObservation | undefined): boolean {
  const report = standby?.server;
  const failedAt = live.probe.firstFailureAt;
  if (live.probe.consecutiveFailures < 1 || failedAt === undefined || !report) return false;
  if (report.role !== 'standby' || report.at === undefined || report.peerLastSeenSeconds === undefined)
    return false;
  // A report older than the failed check says nothing about it (a check fails at most its timeout
  // after it was sent; PEER_SILENT_SECONDS of silence before that would already be the fault).
  if (report.at < failedAt - PEER_SILENT_SECONDS * 1000) return false;
  return (
    report.peerLastSeenSeconds >= PEER_SILENT_SECONDS && report.peerLastSeenSeconds <= PEER_RECENT_SECONDS
  );
}

function assess(
  m: MemberObservation,
  isLive: boolean,
  liveSince: number | undefined,
  p: Policy,
  peer?: MemberObservation,
): MemberAssessment {
  const server = p.protocol === 'reference' ? m.server : undefined;
  const inSync = server === undefined || server.replication === 'in-sync' || server.replication === 'none';
  const base = { inSync, reportsActive: server?.role === 'active' };
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
  if (pod.deleting) return fail('PodDeleted', 'the pod is being deleted', true, pod.deletionRequestedAt);
  if (m.node && m.node.ready !== 'True') {
    return fail('NodeNotReady', `the node is not ready (Ready=${m.node.ready})`, true, m.node.transitionAt);
  }
  if (pod.phase === 'Failed' || pod.phase === 'Succeeded') {
    return fail('ContainerTerminated', `the pod has phase ${pod.phase}`, true, pod.terminatedAt);
  }
  if (pod.containerTerminated) {
    return fail('ContainerTerminated', 'the licence-server container terminated', true, pod.terminatedAt);
  }
  if (pod.phase !== 'Running') {
    // A pod that does not run cannot serve; for a standby this is just "starting".
    if (isLive) return fail('PodPending', `the pod has phase ${pod.phase}`, true);
    return { ...notYet('PodPending', `the pod has phase ${pod.phase}`), ...base };
  }
  // The live member's pod went NotReady while it was live (the kubelet's readiness probe already
  // applied its own threshold). Not-ready from before it became live (starting up) does not count.
  if (isLive && !pod.ready) {
    const at = pod.readyTransitionAt;
    if (at === undefined || liveSince === undefined || at >= liveSince) {
      return fail('PodNotReady', 'the pod is not ready', true, at);
    }
  }
  // Two observers agree: the operator's check failed and the standby lost the replication stream.
  // Waiting for failureThreshold checks would only add periods to the outage.
  if (isLive && p.protocol === 'reference' && standbyLostLive(m, peer)) {
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

function notYet(reason: MemberReason, message: string): Omit<MemberAssessment, 'inSync' | 'reportsActive'> {
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
// Decision

export type Action =
  | 'none'
  | 'initial-promote'
  | 'failover'
  | 'failback'
  | 'switchover'
  | 'serve-first-recovered'
  | 'fence-only'
  | 'repromote';

export type Reason =
  | 'Healthy'
  | 'WaitingForMembers'
  | 'InitialPromotion'
  | 'MemberRecovered'
  | MemberReason
  | 'BothDown'
  | 'NoHealthyStandby'
  | 'StandbyNotInSync'
  | 'StandbyNotPromotable'
  | 'FailoverDisabled'
  | 'FailoverDelayed'
  | 'MinIntervalNotElapsed'
  | 'PreferredMemberChanged'
  | 'SwitchoverRequested'
  | 'SwitchoverPending'
  | 'FailbackStable'
  | 'FailbackPending'
  | 'FailbackManual'
  | 'LiveMemberNotActive'
  | 'StrayActive';

export type Phase = 'Pending' | 'Running' | 'Degraded' | 'FailedOver' | 'Unavailable';

export interface Decision {
  action: Action;
  reason: Reason;
  message: string;
  /** The live member after the decision ('' = the client Service selects no pod). */
  live: LiveMember;
  /** The live member before (status.liveMember). */
  previousLive: LiveMember;
  /** Take this member out of the Service and demote it (with `epoch`) before anything else. */
  fence?: Member;
  /** Promote this member with `epoch` (force: true when `fence` is set), then point the Service at it. */
  promote?: Member;
  /** The epoch to store in status and use for promote/demote; never below status.epoch. */
  epoch: number;
  /** The live member changes: set status.liveSince (and status.liveMember = live). */
  moved: boolean;
  /** Increment status.failoverCount (failover, failback, switchover). */
  countsAsFailover: boolean;
  /** For status.lastFailover: present when the Service moves, except for the initial promotion. */
  lastFailover?: {
    from: LiveMember;
    to: LiveMember;
    action: Action;
    reason: Reason;
    detectionSeconds?: number;
  };
  /** The value for status.preferredMember. */
  acknowledgedPreferredMember: Member;
  /** The switchover request (annotation) is handled: record its value in status.lastSwitchoverRequest. */
  requestHandled: boolean;
  phase: Phase;
  conditions: ConditionSpec[];
  members: Record<Member, MemberAssessment>;
  /** Reconcile again after this many ms: a timed rule (delay, stable period, min interval) is pending. */
  requeueAfterMs?: number;
  /** The serving rules (serving.ts): the next status.servingAlone and the solo grant to send. */
  serving: ServingDecision;
}

interface Move {
  action: Action;
  reason: Reason;
  message: string;
  live: LiveMember;
  fence?: Member;
  promote?: Member;
  requeueAt?: number;
  detectionSeconds?: number;
}

/**
 * The decision table. Rows are checked top to bottom; the first that applies wins.
 *
 *  no live member:
 *    1. a member eligible (healthy, not catching up) → promote it (preferred first):
 *       `initial-promote` when never promoted (epoch 0), else `serve-first-recovered`
 *    2. otherwise → none (Pending / Unavailable)
 *  live member failed (pod/node signal, or failureThreshold failed checks):
 *    3. failover disabled → none, report only
 *    4. failing for less than delaySeconds → none, requeue
 *    5. standby eligible, minSecondsBetweenFailovers not elapsed → none, requeue
 *    6. standby eligible → `failover`: fence the live member, promote the standby
 *    7. otherwise → `fence-only`: no live member (both down) until one recovers (row 1)
 *  live member not failed:
 *    8. standby reports active → `fence-only` (demote the standby)
 *    9. live member healthy (not catching up) but reports standby → `repromote` it with a new epoch
 *   10. live ≠ preferred and a switchover is requested (preferredMember changed or annotation):
 *       preferred eligible for switchover (healthy, in sync) → `switchover`, else pending
 *   11. live ≠ preferred, failback Automatic: preferred in sync and healthy for
 *       failbackStableSeconds and minSecondsBetweenFailovers elapsed → `failback`, else pending (requeue)
 *   12. otherwise → none
 */
export function decide(obs: Observation, policy: Policy, now: number): Decision {
  const prevLive = obs.status.liveMember;
  const liveSince = obs.status.liveSince;
  const assessed = {
    primary: assess(obs.members.primary, prevLive === 'primary', liveSince, policy, obs.members.redundant),
    redundant: assess(
      obs.members.redundant,
      prevLive === 'redundant',
      liveSince,
      policy,
      obs.members.primary,
    ),
  };
  const members = withPromotability(assessed, obs.status.servingAlone);
  const reported = MEMBER_LIST.map((m) =>
    policy.protocol === 'reference' ? (obs.members[m].server?.epoch ?? 0) : 0,
  );
  const currentEpoch = Math.max(0, obs.status.epoch);
  const nextEpoch = Math.max(currentEpoch, ...reported) + 1;
  const preferred = policy.preferredMember;
  const preferredChanged =
    obs.status.preferredMember !== undefined && obs.status.preferredMember !== preferred;
  const requested = preferredChanged || obs.switchoverRequested === true;

  const move = table(obs, policy, now, members, requested, preferredChanged);
  const promote = move.promote;
  const epoch = promote !== undefined ? nextEpoch : currentEpoch;
  const moved = move.live !== prevLive;
  const recordMove = moved && move.action !== 'initial-promote';
  const done = move.live === preferred;
  const phase = phaseOf(move.live, members, preferred, currentEpoch === 0 && promote === undefined);
  const serving = servingOf(obs, policy, now, move, members, epoch);

  const d: Decision = {
    action: move.action,
    reason: move.reason,
    message: move.message,
    live: move.live,
    previousLive: prevLive,
    ...(move.fence !== undefined ? { fence: move.fence } : {}),
    ...(promote !== undefined ? { promote } : {}),
    epoch,
    moved,
    countsAsFailover: moved && (['failover', 'failback', 'switchover'] as Action[]).includes(move.action),
    ...(recordMove
      ? {
          lastFailover: {
            from: prevLive,
            to: move.live,
            action: move.action,
            reason: move.reason,
            ...(move.detectionSeconds !== undefined ? { detectionSeconds: move.detectionSeconds } : {}),
          },
        }
      : {}),
    acknowledgedPreferredMember: !requested || done ? preferred : (obs.status.preferredMember ?? preferred),
    requestHandled: obs.switchoverRequested === true && done,
    phase,
    conditions: [...conditionsOf(move, members, phase, epoch), servingCondition(serving)],
    members,
    serving,
  };
  // The mark gone, the member it marked may be promoted: decide again at once without it.
  const unmarked = obs.status.servingAlone !== undefined && serving.alone === undefined ? now : Infinity;
  const requeueAt = Math.min(move.requeueAt ?? Infinity, serving.requeueAt ?? Infinity, unmarked);
  if (Number.isFinite(requeueAt)) d.requeueAfterMs = Math.max(1, Math.ceil(requeueAt - now));
  return d;
}

/** A member `status.servingAlone` marks cannot take over, however healthy (R5, docs/reliability.md). */
function withPromotability(
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

function servingOf(
  obs: Observation,
  p: Policy,
  now: number,
  move: Move,
  a: Record<Member, MemberAssessment>,
  epoch: number,
): ServingDecision {
  const live = move.live;
  const liveServer = live === '' ? undefined : obs.members[live].server;
  const standbyServer = live === '' ? undefined : obs.members[other(live)].server;
  const promoted = move.promote;
  return decideServing({
    protocol: p.protocol,
    live,
    moving: promoted !== undefined || move.fence !== undefined,
    // A new pair's first promotion has nothing the other member could miss: it is not marked.
    ...(promoted !== undefined && move.action !== 'initial-promote' && a[other(promoted)].failed
      ? { promotingAlone: promoted }
      : {}),
    epoch,
    liveConfirmed:
      live !== '' && a[live].healthy && liveServer?.role === 'active' && liveServer.epoch === epoch,
    ...(liveServer ? { liveReplication: liveServer.replication } : {}),
    ...(liveServer?.serving ? { liveServing: liveServer.serving } : {}),
    ...(liveServer?.sentAt !== undefined ? { liveReportSentAt: liveServer.sentAt } : {}),
    standbyInSync: standbyServer?.role === 'standby' && standbyServer.replication === 'in-sync',
    ...(obs.status.servingAlone ? { alone: obs.status.servingAlone } : {}),
    grantsBindUntil: obs.grantsBindUntil ?? -Infinity,
    now,
  });
}

function servingCondition(s: ServingDecision): ConditionSpec {
  if (s.alone)
    return {
      type: CONDITION_SERVING_ALONE,
      status: 'True',
      reason: s.reason === 'StartServingAlone' ? 'ServingAlone' : s.reason,
      message: `the ${s.alone.member} member serves alone (epoch ${s.alone.epoch}); the ${other(s.alone.member)} member is not promoted until it has resynced: ${s.message}`,
    };
  // One steady reason while paired, so that the condition does not cost a status write per reconcile.
  return s.reason === 'NotApplicable'
    ? { type: CONDITION_SERVING_ALONE, status: 'False', reason: 'NotApplicable', message: s.message }
    : {
        type: CONDITION_SERVING_ALONE,
        status: 'False',
        reason: 'Paired',
        message: 'no member serves alone: a change is acknowledged once the standby has it',
      };
}

function table(
  obs: Observation,
  p: Policy,
  now: number,
  a: Record<Member, MemberAssessment>,
  requested: boolean,
  preferredChanged: boolean,
): Move {
  const prevLive = obs.status.liveMember;
  const preferred = p.preferredMember;

  // Rows 1-2: no live member.
  if (prevLive === '') {
    const order: Member[] = [preferred, other(preferred)];
    const c = order.find((m) => a[m].eligibleForFailover);
    const initial = obs.status.epoch <= 0;
    if (c !== undefined) {
      const o = other(c);
      return {
        action: initial ? 'initial-promote' : 'serve-first-recovered',
        reason: initial ? 'InitialPromotion' : 'MemberRecovered',
        message: initial ? `promoting the ${c} member` : `the ${c} member recovered first; serving it`,
        live: c,
        promote: c,
        ...(a[o].reportsActive ? { fence: o } : {}),
      };
    }
    const stale = MEMBER_LIST.find((m) => a[m].notPromotable && a[m].healthy);
    if (stale !== undefined)
      return {
        action: 'none',
        reason: 'StandbyNotPromotable',
        message: `no member can serve: the ${stale} member is ${a[stale].message}; the ${other(stale)} member: ${a[other(stale)].message}`,
        live: '',
      };
    return {
      action: 'none',
      reason: initial ? 'WaitingForMembers' : 'BothDown',
      message: initial
        ? 'waiting for a member to become healthy'
        : `no member is healthy (primary: ${a.primary.message}; redundant: ${a.redundant.message})`,
      live: '',
    };
  }

  const live = prevLive;
  const standby = other(live);
  const L = a[live];
  const S = a[standby];
  const lastAt = obs.status.lastFailoverAt;
  const intervalEnd = lastAt === undefined ? undefined : lastAt + p.minSecondsBetweenFailovers * 1000;
  const intervalPending = intervalEnd !== undefined && now < intervalEnd;

  // Rows 3-7: the live member failed.
  if (L.failed) {
    const why = `the live ${live} member failed: ${L.message}`;
    if (!p.enabled)
      return { action: 'none', reason: 'FailoverDisabled', message: `${why}; failover is disabled`, live };
    const delayEnd = L.failingSince === undefined ? undefined : L.failingSince + p.delaySeconds * 1000;
    if (p.delaySeconds > 0 && delayEnd !== undefined && now < delayEnd) {
      return {
        action: 'none',
        reason: 'FailoverDelayed',
        message: `${why}; waiting failover.delaySeconds`,
        live,
        requeueAt: delayEnd,
      };
    }
    const detectionSeconds =
      L.failingSince === undefined ? undefined : Math.max(0, (now - L.failingSince) / 1000);
    if (S.eligibleForFailover) {
      if (intervalPending) {
        return {
          action: 'none',
          reason: 'MinIntervalNotElapsed',
          message: `${why}; waiting failover.minSecondsBetweenFailovers since the last failover`,
          live,
          requeueAt: intervalEnd,
        };
      }
      return {
        action: 'failover',
        reason: L.reason,
        message: `${why}; failing over to the ${standby} member`,
        live: standby,
        fence: live,
        promote: standby,
        ...(detectionSeconds !== undefined ? { detectionSeconds } : {}),
      };
    }
    const reason: Reason = S.failed
      ? 'BothDown'
      : S.notPromotable
        ? 'StandbyNotPromotable'
        : S.healthy
          ? 'StandbyNotInSync'
          : 'NoHealthyStandby';
    return {
      action: 'fence-only',
      reason,
      message: `${why}; the ${standby} member cannot take over (${S.message}); no member serves`,
      live: '',
      fence: live,
      ...(detectionSeconds !== undefined ? { detectionSeconds } : {}),
    };
  }

  // Row 8: two actives: demote the standby.
  if (S.reportsActive) {
    return {
      action: 'fence-only',
      reason: 'StrayActive',
      message: `the ${standby} member reports role active while the ${live} member is live; demoting it`,
      live,
      fence: standby,
    };
  }
  // Row 9: the live member restarted (or was never promoted): promote it again.
  if (p.protocol === 'reference' && L.eligibleForFailover && obs.members[live].server?.role === 'standby') {
    return {
      action: 'repromote',
      reason: 'LiveMemberNotActive',
      message: `the live ${live} member reports role standby; promoting it again`,
      live,
      promote: live,
    };
  }

  if (live !== preferred) {
    const P = S; // the standby is the preferred member here
    // Row 10: planned switchover.
    if (requested) {
      const reason: Reason = preferredChanged ? 'PreferredMemberChanged' : 'SwitchoverRequested';
      if (P.eligibleForSwitchover) {
        return {
          action: 'switchover',
          reason,
          message: `switching over from the ${live} to the ${preferred} member`,
          live: preferred,
          fence: live,
          promote: preferred,
        };
      }
      return {
        action: 'none',
        reason: 'SwitchoverPending',
        message: `switchover to the ${preferred} member pending: ${P.healthy ? 'not in sync' : P.message}`,
        live,
      };
    }
    // Row 11: automatic failback.
    if (p.failback === 'Automatic') {
      if (!P.eligibleForSwitchover) {
        return {
          action: 'none',
          reason: 'FailbackPending',
          message: `failback to the ${preferred} member pending: ${P.healthy ? 'not in sync' : P.message}`,
          live,
        };
      }
      if (P.stableSince === undefined) {
        // Without probe.successSince (use recordProbe) the stable period cannot be measured.
        return {
          action: 'none',
          reason: 'FailbackPending',
          message: `failback to the ${preferred} member pending: unknown since when it is healthy`,
          live,
        };
      }
      const stableEnd = P.stableSince + p.failbackStableSeconds * 1000;
      const waitUntil = Math.max(stableEnd, intervalEnd ?? -Infinity);
      if (now < waitUntil) {
        return {
          action: 'none',
          reason: 'FailbackPending',
          message: `failback to the ${preferred} member once it has been stable for ${p.failbackStableSeconds}s`,
          live,
          requeueAt: waitUntil,
        };
      }
      return {
        action: 'failback',
        reason: 'FailbackStable',
        message: `the ${preferred} member has been healthy for ${p.failbackStableSeconds}s; failing back`,
        live: preferred,
        fence: live,
        promote: preferred,
      };
    }
    return {
      action: 'none',
      reason: 'FailbackManual',
      message: `serving from the ${live} member; failback is manual (request a switchover)`,
      live,
    };
  }
  return {
    action: 'none',
    reason: L.failed ? L.reason : 'Healthy',
    message: `the ${live} member serves`,
    live,
  };
}

function phaseOf(
  live: LiveMember,
  a: Record<Member, MemberAssessment>,
  preferred: Member,
  neverPromoted: boolean,
): Phase {
  if (live === '') return neverPromoted ? 'Pending' : 'Unavailable';
  if (a[live].failed) return 'Unavailable';
  if (live !== preferred) return 'FailedOver';
  if (!a[other(live)].eligibleForSwitchover) return 'Degraded';
  return 'Running';
}

function conditionsOf(
  move: Move,
  a: Record<Member, MemberAssessment>,
  phase: Phase,
  epoch: number,
): ConditionSpec[] {
  const live = move.live;
  let ready: ConditionSpec;
  let standbyReady: ConditionSpec;
  if (live === '') {
    const reason =
      move.reason === 'StandbyNotPromotable'
        ? move.reason
        : phase === 'Pending'
          ? 'WaitingForMembers'
          : 'BothDown';
    ready = { type: CONDITION_READY, status: 'False', reason, message: move.message };
    standbyReady = {
      type: CONDITION_STANDBY_READY,
      status: 'False',
      reason: 'NoLiveMember',
      message: 'no member is live',
    };
  } else {
    const L = a[live];
    ready = L.failed
      ? { type: CONDITION_READY, status: 'False', reason: L.reason, message: move.message }
      : {
          type: CONDITION_READY,
          status: 'True',
          reason: 'LiveMemberServing',
          message: `the ${live} member serves (epoch ${epoch})`,
        };
    const s = other(live);
    const S = a[s];
    standbyReady = S.eligibleForSwitchover
      ? {
          type: CONDITION_STANDBY_READY,
          status: 'True',
          reason: 'StandbyInSync',
          message: `the ${s} member can take over`,
        }
      : {
          type: CONDITION_STANDBY_READY,
          status: 'False',
          reason: S.healthy ? 'StandbyNotInSync' : S.reason,
          message: `the ${s} member cannot take over: ${S.message}`,
        };
  }
  let degraded: ConditionSpec;
  switch (phase) {
    case 'Pending':
      degraded = {
        type: CONDITION_DEGRADED,
        status: 'Unknown',
        reason: 'WaitingForMembers',
        message: move.message,
      };
      break;
    case 'Running':
      degraded = {
        type: CONDITION_DEGRADED,
        status: 'False',
        reason: 'AllMembersHealthy',
        message: 'both members are healthy and in sync',
      };
      break;
    case 'FailedOver':
      degraded = {
        type: CONDITION_DEGRADED,
        status: 'True',
        reason: 'FailedOver',
        message: `serving from the non-preferred ${live} member`,
      };
      break;
    case 'Degraded':
      degraded = {
        type: CONDITION_DEGRADED,
        status: 'True',
        reason: standbyReady.reason,
        message: standbyReady.message,
      };
      break;
    case 'Unavailable':
      degraded = { type: CONDITION_DEGRADED, status: 'True', reason: ready.reason, message: move.message };
      break;
  }
  return [ready, degraded, standbyReady];
}
