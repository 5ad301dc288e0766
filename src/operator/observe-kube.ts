// The Kubernetes adapters of the failover decision: a pod and its node, as observations.
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import type { NodeObservation, PodObservation, PodPhase } from './observation.ts';

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
  const waiting = cs?.state?.waiting;
  const last = cs?.lastState?.terminated ?? cs?.state?.terminated;
  const scheduled = st?.conditions?.find((c) => c.type === 'PodScheduled');
  const image = pod.spec?.containers?.find((c) => c.name === containerName)?.image;
  const createdAt = ms(pod.metadata?.creationTimestamp as Date | string | undefined);
  const runningSince = ms(cs?.state?.running?.startedAt as Date | string | undefined);
  const startedAt = runningSince ?? createdAt;
  return {
    phase: (st?.phase as PodPhase | undefined) ?? 'Pending',
    deleting: deletionTs !== undefined,
    ...(deletionTs !== undefined ? { deletionRequestedAt: deletionTs - grace * 1000 } : {}),
    ready: ready?.status === 'True',
    ...(readyAt !== undefined ? { readyTransitionAt: readyAt } : {}),
    containerTerminated: crashed,
    ...(crashed && terminatedAt !== undefined ? { terminatedAt } : {}),
    ...(waiting?.reason
      ? { waiting: { reason: waiting.reason, ...(waiting.message ? { message: waiting.message } : {}) } }
      : {}),
    ...(last
      ? {
          lastTermination: {
            ...(last.reason ? { reason: last.reason } : {}),
            ...(last.exitCode !== undefined ? { exitCode: last.exitCode } : {}),
            ...(last.message ? { message: last.message } : {}),
          },
        }
      : {}),
    ...(cs ? { restarts: cs.restartCount } : {}),
    // A bound pod is scheduled, whatever a scheduler's late status write still says.
    ...(scheduled?.status === 'False' && scheduled.reason === 'Unschedulable' && !pod.spec?.nodeName
      ? { unschedulable: scheduled.message ?? 'no node fits the pod' }
      : {}),
    ...(image ? { image } : {}),
    ...(startedAt !== undefined ? { startedAt } : {}),
    ...(createdAt !== undefined ? { createdAt } : {}),
    ...(runningSince !== undefined ? { runningSince } : {}),
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
