// Rows 3a-7 of the decision table (failover.ts): the live member failed. Pure.
import type { Move, Reason } from './decision.ts';
import type { LiveGroup } from './live-group.ts';
import { liveLeaving } from './live-leaving.ts';
import { livePromiseHolderExited } from './promise-holder.ts';

/** The live member's pod is gone or was replaced: nothing a wait could bring back. */
const GONE: readonly Reason[] = ['PodDeleted', 'PodMissing', 'PodPending'];

/** Rows 3a-7: the live member failed. */
export function liveFailed(g: LiveGroup): Move {
  const { p, now, live, standby, L, S, intervalEnd, intervalPending } = g;
  const handover = liveLeaving(g.obs, p, live, standby, L, S);
  if (handover) return handover;
  const why = `the live ${live} member failed: ${L.message}`;
  if (!p.enabled)
    return {
      row: '3',
      action: 'none',
      reason: 'FailoverDisabled',
      message: `${why}; failover is disabled`,
      live,
    };
  const delayEnd = L.failingSince === undefined ? undefined : L.failingSince + p.delaySeconds * 1000;
  if (p.delaySeconds > 0 && delayEnd !== undefined && now < delayEnd) {
    return {
      action: 'none',
      row: '4',
      reason: 'FailoverDelayed',
      message: `${why}; waiting failover.delaySeconds`,
      live,
      requeueAt: delayEnd,
    };
  }
  const detectionSeconds =
    L.failingSince === undefined ? undefined : Math.max(0, (now - L.failingSince) / 1000);
  if (S.eligibleForFailover) {
    if (intervalPending && !GONE.includes(L.reason)) {
      return {
        action: 'none',
        row: '5',
        reason: 'MinIntervalNotElapsed',
        message: `${why}; waiting failover.minSecondsBetweenFailovers since the last failover`,
        live,
        requeueAt: intervalEnd,
      };
    }
    return {
      row: '6',
      action: 'failover',
      reason: L.reason,
      message: `${why}; failing over to the ${standby} member`,
      live: standby,
      fence: live,
      promote: standby,
      ...(livePromiseHolderExited(g.obs.members[live].pod, g.obs.status.liveSince)
        ? { peerExited: true as const }
        : {}),
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
    row: '7',
    action: 'fence-only',
    reason,
    message: `${why}; the ${standby} member cannot take over (${S.message}); no member serves`,
    live: '',
    fence: live,
    ...(detectionSeconds !== undefined ? { detectionSeconds } : {}),
  };
}
