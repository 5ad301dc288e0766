// R5's shortcut (docs/reliability.md): a promoted standby waits out its last promise to the
// active unless the process that promise was made to is known to be gone. The operator knows it
// from the kubelet, which reports its own containers whatever the network between the members
// does: a container that terminated, or runs again since the promotion, ran the process that was
// active no more. Pure.
import type { PodObservation } from './observation.ts';

/**
 * The live member's process that was promoted has exited: the pod is the one that was live (it
 * existed before the member became live, so no newer pod of the same name stands in for one that
 * was force-deleted on a node cut off from the cluster), and its container is terminated or has
 * started again since. All times are whole seconds: a start in the second of the promotion may be
 * the promoted process itself, so only a later second counts.
 */
export function livePromiseHolderExited(
  pod: PodObservation | undefined,
  liveSince: number | undefined,
): boolean {
  if (!pod || liveSince === undefined || pod.createdAt === undefined || pod.createdAt >= liveSince)
    return false;
  if (pod.containerTerminated) return true;
  return pod.runningSince !== undefined && pod.runningSince > liveSince;
}
