// Rows 8-12 of the decision table (failover.ts): the live member has not failed. Pure.
import type { Move, Reason } from './decision.ts';
import type { LiveGroup } from './live-group.ts';

/** Rows 8-12: the live member has not failed. */
export function liveServing(
  g: LiveGroup,
  requested: boolean,
  preferredChanged: boolean,
  rollout: boolean,
): Move {
  const { obs, p, now, live, standby, L, S, intervalEnd } = g;
  const preferred = p.preferredMember;
  // Row 8: two actives: demote the standby.
  if (S.reportsActive) {
    return {
      action: 'fence-only',
      row: '8',
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
      row: '9',
      reason: 'LiveMemberNotActive',
      message: `the live ${live} member reports role standby; promoting it again`,
      live,
      promote: live,
    };
  }

  if (live !== preferred) {
    const P = S; // the standby is the preferred member here
    // After a rollout switchover the member left behind still runs the old spec until its pod is
    // replaced: switching back to it would serve from a pod about to be deleted.
    const beingReplaced =
      obs.members[preferred].specOutdated === true && obs.members[live].specOutdated !== true;
    if (beingReplaced) {
      return {
        action: 'none',
        row: requested ? '10' : '11',
        reason: requested ? 'SwitchoverPending' : 'FailbackPending',
        message: `${requested ? 'switchover' : 'failback'} to the ${preferred} member pending: its pod is being replaced with the new spec`,
        live,
      };
    }
    // Row 10: planned switchover.
    if (requested) {
      const reason: Reason = rollout
        ? 'SpecChanged'
        : preferredChanged
          ? 'PreferredMemberChanged'
          : 'SwitchoverRequested';
      if (P.eligibleForSwitchover) {
        return {
          row: '10',
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
        row: '10',
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
          row: '11',
          reason: 'FailbackPending',
          message: `failback to the ${preferred} member pending: ${P.healthy ? 'not in sync' : P.message}`,
          live,
        };
      }
      if (P.stableSince === undefined) {
        // Without probe.successSince (use recordProbe) the stable period cannot be measured.
        return {
          action: 'none',
          row: '11',
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
          row: '11',
          reason: 'FailbackPending',
          message: `failback to the ${preferred} member once it has been stable for ${p.failbackStableSeconds}s`,
          live,
          requeueAt: waitUntil,
        };
      }
      return {
        action: 'failback',
        row: '11',
        reason: 'FailbackStable',
        message: `the ${preferred} member has been healthy for ${p.failbackStableSeconds}s; failing back`,
        live: preferred,
        fence: live,
        promote: preferred,
      };
    }
    return {
      action: 'none',
      row: '12',
      reason: 'FailbackManual',
      message: `serving from the ${live} member; failback is manual (request a switchover)`,
      live,
    };
  }
  return {
    action: 'none',
    row: '12',
    reason: L.failed ? L.reason : 'Healthy',
    message: `the ${live} member serves`,
    live,
  };
}
