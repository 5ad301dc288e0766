import type { V1Pod } from '@kubernetes/client-node';
import type { MemberStatus } from '../api/pair.ts';
import type { ReplicationState } from './observation.ts';
import type { MemberProbeState } from './probe-check.ts';

/**
 * What a newly started (or newly elected) operator may take over from status for a member it has
 * not checked yet: a member the last operator found healthy, on the same pod, starts with a
 * passing streak, as if this operator had checked it. Without this every healthy pair counted as
 * "not probed yet" for successThreshold checks after each restart: its phase flipped to Degraded
 * and back, five status writes and the phase Events per pair, thousands at scale. A failure streak is not
 * taken over: a failing member is failed over after failureThreshold checks of this operator's own.
 *
 * Pure: the pod and its status record, the policy's successThreshold.
 */
export function probeStateFromStatus(
  recorded: MemberStatus | undefined,
  pod: V1Pod,
  successThreshold: number,
): MemberProbeState | undefined {
  if (!recorded || recorded.health !== 'Healthy' || recorded.lastProbeResult !== 'Success') return undefined;
  // The record must be about this pod: same name and address, and written after the pod existed
  // (a pod recreated under the same name is a new member to check).
  if (recorded.podName !== pod.metadata?.name || recorded.podIP !== pod.status?.podIP) return undefined;
  const since = recorded.lastProbeTime ? Date.parse(recorded.lastProbeTime) : NaN;
  const created = pod.metadata?.creationTimestamp ? new Date(pod.metadata.creationTimestamp).getTime() : NaN;
  if (!Number.isFinite(since) || !Number.isFinite(created) || since < created) return undefined;
  const state: MemberProbeState = {
    history: {
      consecutiveSuccesses: successThreshold,
      consecutiveFailures: 0,
      lastSuccessAt: since,
      successSince: since,
    },
    lastProbeAt: since,
    lastResult: { ok: true, latencyMs: 0, message: 'taken over from status' },
    fromStatus: true,
  };
  const { role, epoch } = recorded;
  const replication = recorded.replication?.state ?? 'none';
  if ((role === 'active' || role === 'standby') && epoch !== undefined && replication !== 'unknown') {
    // Only shown in status until this process reads the member: a report recorded before the
    // restart may be stale (a member promoted just before it still recorded as standby), and acting
    // on it would repromote or fence for nothing.
    state.server = { role, epoch, replication: replication satisfies ReplicationState };
  }
  return state;
}
