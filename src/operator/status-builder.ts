// The pair's next status from the decision, the pods and the prober's view of each member: what
// `kubectl get lsp` and `lspctl pair status` show. Pure; the reconciler writes only what changed.
import type * as k8s from '@kubernetes/client-node';
import {
  MEMBERS,
  type DataLossPromotion,
  type LicenseServerPair,
  type Member,
  type MemberStatus,
  type PairStatus,
} from '../api/pair.ts';
import { setConditions, type ConditionSpec } from './conditions.ts';
import type { Decision } from './decision.ts';
import type { MemberProbeState } from './probe-check.ts';

const iso = (t: number) => new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');

export function nextStatus(
  pair: LicenseServerPair,
  status: PairStatus,
  decision: Decision,
  pods: Record<Member, k8s.V1Pod | undefined>,
  probeOf: (m: Member) => MemberProbeState,
  now: number,
  switchoverRequest: string | undefined,
  certificates: { condition?: ConditionSpec | undefined; expires?: Record<Member, Date> } = {},
): PairStatus {
  const members: Record<string, MemberStatus> = {};
  for (const m of MEMBERS) {
    const pod = pods[m];
    const probe = probeOf(m);
    const prev = status.members?.[m];
    const assessment = decision.members[m];
    const result = probe.lastResult ? (probe.lastResult.ok ? 'Success' : 'Failure') : undefined;
    // Only changes are written: the time and message of a probe result are kept until the
    // result flips, so a steady pair costs no status writes. The time is when the current streak
    // of this pod's checks began: a replacement pod whose first check passes, like its
    // predecessor's last, starts a streak of its own.
    const resultChanged = result !== prev?.lastProbeResult;
    const streakStart = result === 'Success' ? probe.history.successSince : probe.history.firstFailureAt;
    const ms: MemberStatus = {
      ...(pod?.metadata?.name ? { podName: pod.metadata.name } : {}),
      ...(pod?.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {}),
      ...(pod?.status?.podIP ? { podIP: pod.status.podIP } : {}),
      ready: pod?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
      healthy: assessment.healthy,
      health: assessment.health,
      ...(assessment.health !== 'Healthy' ? { healthReason: assessment.reason } : {}),
      ...(probe.server ? { role: probe.server.role, epoch: probe.server.epoch } : {}),
      ...(result ? { lastProbeResult: result } : {}),
      ...(result && probe.lastProbeAt
        ? {
            lastProbeTime: iso(
              streakStart ??
                (resultChanged || !prev?.lastProbeTime ? probe.lastProbeAt : Date.parse(prev.lastProbeTime)),
            ),
          }
        : {}),
      ...(result === 'Failure'
        ? {
            lastProbeMessage: resultChanged
              ? probe.lastResult!.message
              : (prev?.lastProbeMessage ?? probe.lastResult!.message),
          }
        : {}),
      ...(result
        ? {
            consecutiveFailures: Math.min(
              probe.history.consecutiveFailures,
              pair.spec.healthCheck.failureThreshold,
            ),
          }
        : {}),
      ...(probe.server
        ? {
            replication: {
              state: probe.server.replication,
              // Lag moves all the time under load: it is in the metrics; status shows it only while behind.
              ...(probe.server.replication !== 'in-sync' && probe.server.lagEntries !== undefined
                ? { lagEntries: probe.server.lagEntries }
                : {}),
              ...(probe.server.replication !== 'in-sync' && probe.server.lagSeconds !== undefined
                ? { lagSeconds: Math.round(probe.server.lagSeconds) }
                : {}),
            },
          }
        : {}),
    };
    // Kept from the last status while this reconcile learnt nothing new (a failed issue), gone once TLS is off.
    const expires = certificates.expires?.[m]
      ? iso(certificates.expires[m].getTime())
      : certificates.condition?.reason === 'PlaintextOptOut'
        ? undefined
        : prev?.certificateExpires;
    if (expires) ms.certificateExpires = expires;
    members[m] = ms;
  }
  const conditions = setConditions(
    status.conditions,
    [...decision.conditions, ...(certificates.condition ? [certificates.condition] : [])],
    new Date(now),
    pair.metadata.generation,
  );
  const next: PairStatus = {
    ...status,
    liveMember: decision.live,
    phase: decision.phase,
    epoch: decision.epoch,
    preferredMember: decision.acknowledgedPreferredMember,
    members: members as PairStatus['members'],
    failoverCount: (status.failoverCount ?? 0) + (decision.countsAsFailover ? 1 : 0),
    ...(pair.metadata.generation !== undefined ? { observedGeneration: pair.metadata.generation } : {}),
    conditions,
  };
  if (decision.moved) next.liveSince = iso(now);
  const alone = decision.serving.alone;
  if (alone) next.servingAlone = { member: alone.member, epoch: alone.epoch, since: iso(alone.since) };
  else delete next.servingAlone;
  if (decision.lastFailover) {
    next.lastFailover = {
      time: iso(now),
      from: decision.lastFailover.from,
      to: decision.lastFailover.to,
      action: decision.lastFailover.action,
      reason: decision.lastFailover.reason,
      ...(decision.lastFailover.detectionSeconds !== undefined
        ? { detectionSeconds: Math.round(decision.lastFailover.detectionSeconds * 1000) / 1000 }
        : {}),
    };
  }
  if (decision.requestHandled && switchoverRequest !== undefined)
    next.lastSwitchoverRequest = switchoverRequest;
  const record = dataLossRecord(decision, iso(now));
  if (record) next.dataLossPromotion = record;
  return next;
}

/**
 * The data-loss promotion request handled by this decision, for status.dataLossPromotion: carried
 * out (the move of row 2a) or refused. A pending one is not handled yet.
 */
function dataLossRecord(d: Decision, time: string): DataLossPromotion | undefined {
  if (!d.dataLoss) return undefined;
  const { request, verdict: v } = d.dataLoss;
  if (v.kind === 'refuse') return { request, outcome: 'Refused', reason: v.cause, message: v.message, time };
  if (v.kind !== 'promote' || d.action !== 'promote-accepting-data-loss') return undefined;
  return {
    request,
    outcome: 'Promoted',
    reason: d.reason,
    message: v.message,
    time,
    member: v.member,
    epoch: d.epoch,
    servedAlone: { member: v.lost.member, epoch: v.lost.epoch, since: iso(v.lost.since) },
  };
}
