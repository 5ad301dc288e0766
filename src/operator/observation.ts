// What the failover decision observes of a pair, and the pure reducers that keep it (the prober
// keeps probe histories and server reports per member). No Kubernetes types: the adapters from
// pods and nodes are in observe-kube.ts.
import { healthCheckTimeoutMs, otherMember } from '../api/pair.ts';
import type { Member, PairSpec } from '../api/pair.ts';
import { peerPromiseMsFor } from './detection.ts';
import type { ServingAlone, ServingReport } from './serving.ts';

export type LiveMember = Member | '';

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
  /** Why the licence-server container is not running yet (state.waiting: ImagePullBackOff…). */
  waiting?: { reason: string; message?: string };
  /** The container's last termination (the cause of a crash loop). */
  lastTermination?: { reason?: string; exitCode?: number; message?: string };
  /** Container restarts. */
  restarts?: number;
  /** The scheduler's message while the pod is unschedulable (PodScheduled=False, Unschedulable). */
  unschedulable?: string;
  /** The licence-server container's image. */
  image?: string;
  /** When its container started running (else when the pod was created), ms. */
  startedAt?: number;
  /** metadata.creationTimestamp, ms. */
  createdAt?: number;
  /** state.running.startedAt of the container running now (none while it does not run), ms. */
  runningSince?: number;
}

/**
 * The licence Secret as the operator found it, read only while a member pod waits to start (a
 * missing Secret or key keeps it in ContainerCreating; the pod itself says so only in an Event).
 */
export type LicenceSecretCheck =
  { state: 'found' } | { state: 'missing' } | { state: 'missingKeys'; keys: string[] };

/** The licence a reference server reports in force (docs/server-contract.md, `license`). */
export interface LicenceReport {
  state: 'valid' | 'invalid' | 'expired' | 'missing';
  message: string;
  /** The file's refusal code (MALFORMED, BAD_SIGNATURE, EXPIRED…), when no licence is in force. */
  code?: string;
  /** A newer file refused while the previous licence stays in force. */
  lastError?: string;
  lastErrorCode?: string;
  /** When the last usable feature expires, ms. */
  expiresAt?: number;
  /** The usable feature that expires first. */
  firstExpiry?: { feature: string; at: number };
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
  /** The licence in force (servers that predate the report: undefined, taken as valid). */
  licence?: LicenceReport;
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
  /** The pod runs an older spec of the pair than the current one (a rollout is due). */
  specOutdated?: boolean;
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
  /**
   * A lpo.dev/promote-accepting-data-loss value the operator has not handled yet (not the one
   * status.dataLossPromotion records): judged by data-loss-promotion.ts.
   */
  dataLossRequest?: string;
  /** The licence Secret, when it was checked (a member pod waits to start). */
  licenceSecret?: LicenceSecretCheck;
}

/** Where the licence comes from, and how early its expiry is warned of (spec.server.license). */
export interface LicenceSource {
  secretName: string;
  fileKey: string;
  publicKeyKey: string;
  expiryWarningDays: number;
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
  /** Absent in tables that do not concern the licence: conditions then name no Secret. */
  licence?: LicenceSource;
  /** healthCheck.periodSeconds: how long a new pair gives its preferred member (default 2). */
  periodSeconds?: number;
  /** the standby's promise P the pair's members are given (detection.ts: peerPromiseMsFor; default 1000) */
  promiseMs?: number;
}

/** The member `status.servingAlone` marks as not promotable, if any. */
export function notPromotable(alone: ServingAlone | undefined): Member | undefined {
  return alone === undefined ? undefined : otherMember(alone.member);
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
    periodSeconds: spec.healthCheck.periodSeconds,
    promiseMs: peerPromiseMsFor(healthCheckTimeoutMs(spec.healthCheck)),
    licence: {
      secretName: spec.server.license.secretName,
      fileKey: spec.server.license.fileKey,
      publicKeyKey: spec.server.license.publicKeyKey,
      expiryWarningDays: spec.server.license.expiryWarningDays,
    },
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
