import { describe, expect, it } from 'vitest';
import { TABLE_ROWS } from '../../../src/operator/decision.ts';
import { decide } from '../../../src/operator/failover.ts';
import type { Policy } from '../../../src/operator/observation.ts';
import {
  POLICY,
  S,
  T0,
  check,
  member,
  notProbed,
  pending,
  probeFailed,
  status,
  steady,
  type Scenario,
} from './decision-fixtures.ts';
const fresh = {
  liveMember: '' as const,
  epoch: 0,
  liveSince: undefined,
  lastFailoverAt: undefined,
  preferredMember: undefined,
};
const afterFailover = {
  liveMember: 'redundant' as const,
  epoch: 2,
  liveSince: T0 - 100 * S,
  lastFailoverAt: T0 - 100 * S,
};

/** The primary served alone and was fenced; the redundant member reports the lost connection. */
const aloneLost = {
  liveMember: '' as const,
  servingAlone: { member: 'primary' as const, epoch: 1, since: T0 - 60 * S },
};
/** The live primary's pod is being deleted (a drain): its container runs on and answers. */
const leaving = member('active', { pod: { deleting: true, deletionRequestedAt: T0 - 0.2 * S } });
const lostActive = { server: { replication: 'disconnected' as const, peerLastSeenSeconds: 30 } };

const scenarios: Scenario[] = [
  // --- start-up
  {
    name: 'new pair, both healthy: promote the preferred member',
    obs: steady(member('standby', {}, 0), member('standby', {}, 0), fresh),
    expect: {
      action: 'initial-promote',
      reason: 'InitialPromotion',
      live: 'primary',
      promote: 'primary',
      epoch: 1,
      moved: true,
      countsAsFailover: false,
      phase: 'Running',
      acknowledgedPreferredMember: 'primary',
      conditions: { Ready: 'True', Degraded: 'False', StandbyReady: 'True' },
    },
  },
  {
    name: 'new pair, preferred redundant',
    obs: steady(member('standby', {}, 0), member('standby', {}, 0), fresh),
    policy: { preferredMember: 'redundant' },
    expect: {
      action: 'initial-promote',
      live: 'redundant',
      promote: 'redundant',
      epoch: 1,
      phase: 'Running',
    },
  },
  {
    name: 'new pair, only the redundant member is up: serve it',
    obs: steady(member('standby', pending, 0), member('standby', {}, 0), fresh),
    expect: { action: 'initial-promote', live: 'redundant', promote: 'redundant', phase: 'FailedOver' },
  },
  {
    name: 'new pair, pods pending',
    obs: steady(member('standby', pending, 0), member('standby', pending, 0), fresh),
    expect: {
      action: 'none',
      reason: 'WaitingForMembers',
      live: '',
      epoch: 0,
      phase: 'Pending',
      moved: false,
      conditions: { Ready: 'False', Degraded: 'Unknown', StandbyReady: 'False' },
    },
  },
  {
    name: 'new pair, one health check short of the success threshold',
    obs: steady(
      member('standby', { probe: { consecutiveSuccesses: 1 } }, 0),
      member('standby', { probe: { consecutiveSuccesses: 1 } }, 0),
      fresh,
    ),
    expect: { action: 'none', reason: 'WaitingForMembers', live: '' },
  },
  {
    name: 'new pair, a member reporting active is fenced while the preferred one is promoted',
    obs: steady(member('standby', {}, 0), member('active', {}, 4), fresh),
    expect: { action: 'initial-promote', live: 'primary', promote: 'primary', fence: 'redundant', epoch: 5 },
  },
  {
    name: 'new pair, the redundant member healthy first, the preferred one started 2 s ago: wait for it',
    obs: steady(
      member('standby', { ...notProbed, pod: { startedAt: T0 - 2 * S } }, 0),
      member('standby', {}, 0),
      fresh,
    ),
    expect: {
      action: 'none',
      reason: 'WaitingForPreferred',
      live: '',
      phase: 'Pending',
      // (successThreshold 2 + 3) × the default period of 2 s, from when its container started
      requeueAfterMs: 8 * S,
      conditions: { Ready: 'False' },
    },
  },
  {
    name: 'new pair, the preferred member started long ago and is still not healthy: promote the other',
    obs: steady(
      member('standby', { ...notProbed, pod: { startedAt: T0 - 60 * S } }, 0),
      member('standby', {}, 0),
      fresh,
    ),
    expect: { action: 'initial-promote', live: 'redundant', promote: 'redundant' },
  },
  {
    name: 'new pair, the preferred member’s pod is being deleted: promote the other at once',
    obs: steady(
      member('standby', { ...notProbed, pod: { startedAt: T0 - 1 * S, deleting: true } }, 0),
      member('standby', {}, 0),
      fresh,
    ),
    expect: { action: 'initial-promote', live: 'redundant', promote: 'redundant' },
  },
  {
    name: 'a pair that served before: the first member to recover is served, no wait for the preferred one',
    obs: steady(member('standby', { ...notProbed, pod: { startedAt: T0 - 1 * S } }), member('standby', {}), {
      liveMember: '',
      epoch: 3,
    }),
    expect: { action: 'serve-first-recovered', live: 'redundant' },
  },
  // --- steady state
  {
    name: 'steady: nothing to do',
    obs: steady(member('active'), member('standby')),
    expect: {
      action: 'none',
      reason: 'Healthy',
      live: 'primary',
      epoch: 1,
      phase: 'Running',
      moved: false,
      requeueAfterMs: undefined,
      fence: undefined,
      promote: undefined,
      conditions: { Ready: 'True', Degraded: 'False', StandbyReady: 'True' },
    },
  },
  {
    name: 'operator restarted: no probe history yet, no flip',
    obs: steady(
      member('active', { ...notProbed, server: null }),
      member('standby', { ...notProbed, server: null }),
    ),
    expect: { action: 'none', live: 'primary', phase: 'Degraded', conditions: { Ready: 'True' } },
  },
  {
    name: 'two failed checks (threshold 3): no failover yet',
    obs: steady(member('active', probeFailed(2)), member('standby')),
    expect: { action: 'none', live: 'primary', phase: 'Running', conditions: { Ready: 'True' } },
  },
  {
    name: 'standby failed: degraded, no action',
    obs: steady(member('active'), member('standby', probeFailed())),
    expect: {
      action: 'none',
      live: 'primary',
      phase: 'Degraded',
      conditions: { Ready: 'True', Degraded: 'True', StandbyReady: 'False' },
    },
  },
  {
    name: 'standby catching up: degraded, StandbyReady False',
    obs: steady(
      member('active'),
      member('standby', { server: { replication: 'catching-up', lagEntries: 40 } }),
    ),
    expect: { action: 'none', phase: 'Degraded', conditions: { StandbyReady: 'False', Degraded: 'True' } },
  },
  {
    name: 'standby pod not ready does not matter while it is standby',
    obs: steady(
      member('active'),
      member('standby', { pod: { ready: false, readyTransitionAt: T0 - 5 * S } }),
    ),
    expect: { action: 'none', live: 'primary', phase: 'Running' },
  },
  // --- failover signals
  {
    name: 'probe failed: failover',
    obs: steady(member('active', probeFailed()), member('standby')),
    expect: {
      action: 'failover',
      reason: 'ProbeFailed',
      live: 'redundant',
      fence: 'primary',
      promote: 'redundant',
      epoch: 2,
      moved: true,
      countsAsFailover: true,
      phase: 'FailedOver',
      lastFailover: {
        from: 'primary',
        to: 'redundant',
        action: 'failover',
        reason: 'ProbeFailed',
        detectionSeconds: 6,
      },
      conditions: { Ready: 'True', Degraded: 'True', StandbyReady: 'False' },
    },
  },
  {
    name: 'one failed check confirmed by the standby (peer silent, fresh report): failover at once',
    obs: steady(
      member('active', probeFailed(1, T0 - 0.2 * S)),
      member('standby', { server: { peerLastSeenSeconds: 2.1, at: T0 } }),
    ),
    expect: {
      action: 'failover',
      reason: 'PeerLost',
      live: 'redundant',
      fence: 'primary',
      promote: 'redundant',
      lastFailover: {
        from: 'primary',
        to: 'redundant',
        action: 'failover',
        reason: 'PeerLost',
        detectionSeconds: 0.2,
      },
    },
  },
  {
    name: 'a pair on a 500 ms promise (timeoutMilliseconds 500): half a second of silence confirms one failed check',
    obs: steady(
      member('active', probeFailed(1, T0 - 0.2 * S)),
      member('standby', { server: { peerLastSeenSeconds: 0.55, at: T0 } }),
    ),
    policy: { promiseMs: 500, failureThreshold: 1 },
    expect: { action: 'failover', reason: 'PeerLost', live: 'redundant', promote: 'redundant' },
  },
  {
    name: 'a pair on the default 1 s promise: half a second of silence is no confirmation, wait for the threshold',
    obs: steady(
      member('active', probeFailed(1, T0 - 0.2 * S)),
      member('standby', { server: { peerLastSeenSeconds: 0.55, at: T0 } }),
    ),
    expect: { action: 'none', live: 'primary' },
  },
  {
    name: 'one failed check, the standby still hears the active: wait for the threshold',
    obs: steady(
      member('active', probeFailed(1, T0 - 0.2 * S)),
      member('standby', { server: { peerLastSeenSeconds: 0.3, at: T0 } }),
    ),
    expect: { action: 'none', live: 'primary' },
  },
  {
    name: 'one failed check, the standby report predates the check: not evidence, wait',
    obs: steady(
      member('active', probeFailed(1, T0 - 0.2 * S)),
      member('standby', { server: { peerLastSeenSeconds: 5, at: T0 - 3 * S } }),
    ),
    expect: { action: 'none', live: 'primary' },
  },
  {
    name: 'one failed check, the standby lost the active long ago: not fresh evidence, wait',
    obs: steady(
      member('active', probeFailed(1, T0 - 0.2 * S)),
      member('standby', { server: { peerLastSeenSeconds: 3600, at: T0 } }),
    ),
    expect: { action: 'none', live: 'primary' },
  },
  {
    name: 'the standby silent but no failed check: nothing (the operator still reaches the active)',
    obs: steady(member('active'), member('standby', { server: { peerLastSeenSeconds: 5, at: T0 } })),
    expect: { action: 'none', live: 'primary', phase: 'Running' },
  },
  {
    name: 'pod being deleted, no longer answering: failover at once, without the failure threshold',
    obs: steady(
      member('active', { pod: { deleting: true, deletionRequestedAt: T0 - 0.5 * S }, ...probeFailed(1, T0) }),
      member('standby'),
    ),
    expect: {
      action: 'failover',
      reason: 'PodDeleted',
      live: 'redundant',
      fence: 'primary',
      lastFailover: {
        from: 'primary',
        to: 'redundant',
        action: 'failover',
        reason: 'PodDeleted',
        detectionSeconds: 0.5,
      },
    },
  },
  // --- the live member's pod is being deleted while it still answers (row 3a: a handover)
  {
    name: 'live pod being deleted, the member still answering: hand over as a switchover, demoting it first',
    obs: steady(leaving, member('standby')),
    expect: {
      row: '3a',
      action: 'switchover',
      reason: 'LiveMemberLeaving',
      live: 'redundant',
      fence: 'primary',
      promote: 'redundant',
      demoteFirst: true,
      epoch: 2,
      countsAsFailover: true,
      lastFailover: { from: 'primary', to: 'redundant', action: 'switchover', reason: 'LiveMemberLeaving' },
    },
  },
  {
    name: 'a leaving live member is handed over with failover disabled too (a planned switchover)',
    obs: steady(leaving, member('standby')),
    policy: { enabled: false },
    expect: { row: '3a', action: 'switchover', live: 'redundant', demoteFirst: true },
  },
  {
    name: 'a leaving live member is handed over at once: no failover delay, no minimum interval',
    obs: steady(leaving, member('standby'), { lastFailoverAt: T0 - 3 * S }),
    policy: { delaySeconds: 30 },
    expect: { row: '3a', action: 'switchover', live: 'redundant' },
  },
  {
    name: 'a leaving live member, the standby not in sync (disconnected): a failover, still demoting it first',
    obs: steady(leaving, member('standby', { server: { replication: 'disconnected' } })),
    expect: { row: '6', action: 'failover', reason: 'PodDeleted', live: 'redundant', demoteFirst: true },
  },
  {
    name: 'a leaving live member that reports an older epoch (it restarted): a failover',
    obs: steady(member('active', { pod: { deleting: true } }, 0), member('standby')),
    expect: { row: '6', action: 'failover', reason: 'PodDeleted', live: 'redundant' },
  },
  {
    name: 'a leaving live member whose container terminated: a failover, not awaiting its demotion',
    obs: steady(member('active', { pod: { deleting: true, containerTerminated: true } }), member('standby')),
    expect: { row: '6', action: 'failover', reason: 'PodDeleted', demoteFirst: undefined },
  },
  {
    name: 'a leaving live member serving alone: its standby is not promotable, no handover',
    obs: steady(leaving, member('standby'), {
      servingAlone: { member: 'primary', epoch: 1, since: T0 - 60 * S },
    }),
    expect: { row: '7', action: 'fence-only', reason: 'StandbyNotPromotable', live: '' },
  },
  {
    name: 'protocol none: a leaving live member that passes its checks is handed over',
    obs: steady(
      member('active', { pod: { deleting: true }, server: null }),
      member('standby', { server: null }),
    ),
    policy: { protocol: 'none' },
    expect: { row: '3a', action: 'switchover', live: 'redundant' },
  },
  {
    name: 'pod gone: failover',
    obs: steady(member('active', { pod: null, server: null }), member('standby')),
    expect: { action: 'failover', reason: 'PodMissing', live: 'redundant' },
  },
  {
    name: 'node NotReady: failover',
    obs: steady(member('active', { node: { ready: 'False', transitionAt: T0 - S } }), member('standby')),
    expect: { action: 'failover', reason: 'NodeNotReady', live: 'redundant' },
  },
  {
    name: 'node unreachable (Ready Unknown): failover',
    obs: steady(member('active', { node: { ready: 'Unknown' } }), member('standby')),
    expect: {
      action: 'failover',
      reason: 'NodeNotReady',
      live: 'redundant',
      lastFailover: { from: 'primary', to: 'redundant', action: 'failover', reason: 'NodeNotReady' },
    },
  },
  {
    name: 'container terminated: failover',
    obs: steady(
      member('active', { pod: { containerTerminated: true, terminatedAt: T0 - 2 * S } }),
      member('standby'),
    ),
    expect: { action: 'failover', reason: 'ContainerTerminated', live: 'redundant' },
  },
  {
    name: 'container of the pod that was live terminated: the promotion need not wait out the promise',
    obs: steady(
      member('active', {
        pod: { containerTerminated: true, terminatedAt: T0 - 2 * S, createdAt: T0 - 900 * S },
      }),
      member('standby'),
    ),
    expect: { action: 'failover', reason: 'ContainerTerminated', promote: 'redundant', peerExited: true },
  },
  {
    name: 'container restarted since the promotion, its checks failing: the promotion need not wait',
    obs: steady(
      member('active', { ...probeFailed(), pod: { createdAt: T0 - 900 * S, runningSince: T0 - 1 * S } }),
      member('standby'),
    ),
    expect: { action: 'failover', promote: 'redundant', peerExited: true },
  },
  {
    name: 'checks failing, the container running since before the promotion (hung, cut off): waits out the promise',
    obs: steady(
      member('active', { ...probeFailed(), pod: { createdAt: T0 - 900 * S, runningSince: T0 - 850 * S } }),
      member('standby'),
    ),
    expect: { action: 'failover', promote: 'redundant', peerExited: undefined },
  },
  {
    name: 'pod phase Failed: failover',
    obs: steady(member('active', { pod: { phase: 'Failed' } }), member('standby')),
    expect: { action: 'failover', reason: 'ContainerTerminated', live: 'redundant' },
  },
  {
    name: 'live pod recreated and pending: failover',
    obs: steady(member('active', pending), member('standby')),
    expect: { action: 'failover', reason: 'PodPending', live: 'redundant' },
  },
  {
    name: 'live pod became NotReady while live: failover',
    obs: steady(member('active', { pod: { ready: false, readyTransitionAt: T0 - S } }), member('standby')),
    expect: { action: 'failover', reason: 'PodNotReady', live: 'redundant' },
  },
  {
    name: 'live pod NotReady since before it became live (starting up): no failover',
    obs: steady(
      member('active', { pod: { ready: false, readyTransitionAt: T0 - 900 * S } }),
      member('standby'),
    ),
    expect: { action: 'none', live: 'primary' },
  },
  {
    name: 'live pod NotReady since the second it became live (the standby promoted after its active died): no failover',
    obs: steady(
      member('active', { pod: { ready: false, readyTransitionAt: T0 - 800 * S } }),
      member('standby'),
    ),
    expect: { action: 'none', live: 'primary' },
  },
  {
    name: 'live pod NotReady a second after it became live: failover',
    obs: steady(
      member('active', { pod: { ready: false, readyTransitionAt: T0 - 799 * S } }),
      member('standby'),
    ),
    expect: { action: 'failover', reason: 'PodNotReady', live: 'redundant' },
  },
  {
    name: 'standby reports disconnected (its peer died): still a failover target',
    obs: steady(
      member('active', probeFailed()),
      member('standby', { server: { replication: 'disconnected' } }),
    ),
    expect: { action: 'failover', live: 'redundant', promote: 'redundant' },
  },
  {
    name: 'standby not ready as a pod (its readyz follows the dead active): still a failover target',
    obs: steady(
      member('active', { pod: { deleting: true }, ...probeFailed(1, T0) }),
      member('standby', { pod: { ready: false } }),
    ),
    expect: { action: 'failover', live: 'redundant' },
  },
  {
    name: 'standby reports active too while the live one failed: plain failover',
    obs: steady(member('active', probeFailed()), member('active', {}, 1)),
    expect: { action: 'failover', live: 'redundant', fence: 'primary', promote: 'redundant', epoch: 2 },
  },
  {
    name: 'next epoch is above every reported epoch',
    obs: steady(member('active', probeFailed(), 3), member('standby', {}, 7), { epoch: 3 }),
    expect: { action: 'failover', epoch: 8 },
  },
  // --- no failover possible
  {
    name: 'both down: fence the live member, no member serves',
    obs: steady(member('active', probeFailed()), member('standby', { node: { ready: 'False' } })),
    expect: {
      action: 'fence-only',
      reason: 'BothDown',
      live: '',
      fence: 'primary',
      promote: undefined,
      epoch: 1,
      moved: true,
      countsAsFailover: false,
      phase: 'Unavailable',
      conditions: { Ready: 'False', Degraded: 'True', StandbyReady: 'False' },
    },
  },
  {
    name: 'standby still starting: fence, no member serves',
    obs: steady(member('active', probeFailed()), member('standby', notProbed)),
    expect: { action: 'fence-only', reason: 'NoHealthyStandby', live: '', phase: 'Unavailable' },
  },
  {
    name: 'standby healthy but catching up: never promoted',
    obs: steady(
      member('active', probeFailed()),
      member('standby', { server: { replication: 'catching-up' } }),
    ),
    expect: { action: 'fence-only', reason: 'StandbyNotInSync', live: '', promote: undefined },
  },
  // --- serving alone (status.servingAlone, docs/reliability.md R5)
  {
    name: 'live member failed while serving alone: the standby is not promoted (it lacks what was granted alone)',
    obs: steady(member('active', probeFailed()), member('standby'), {
      servingAlone: { member: 'primary', epoch: 1, since: T0 - 60 * S },
    }),
    expect: {
      action: 'fence-only',
      reason: 'StandbyNotPromotable',
      live: '',
      promote: undefined,
      conditions: { Ready: 'False', StandbyReady: 'False', ServingAlone: 'True' },
    },
  },
  {
    name: 'no live member, only the not-promotable member healthy: nobody is promoted',
    obs: steady(member('standby', probeFailed()), member('standby'), {
      liveMember: '',
      servingAlone: { member: 'primary', epoch: 1, since: T0 - 60 * S },
    }),
    expect: {
      action: 'none',
      reason: 'StandbyNotPromotable',
      live: '',
      promote: undefined,
      phase: 'Unavailable',
    },
  },
  {
    name: 'no live member, the member that served alone recovers: it is promoted (it has every lease)',
    obs: steady(member('standby'), member('standby'), {
      liveMember: '',
      servingAlone: { member: 'primary', epoch: 1, since: T0 - 60 * S },
    }),
    expect: { action: 'serve-first-recovered', live: 'primary', promote: 'primary', epoch: 2 },
  },
  // --- the override of R5: a promotion accepting data loss (data-loss-promotion.ts)
  {
    name: 'the member that served alone is lost; a request names its episode and its grants have expired: promote the other',
    obs: {
      ...steady(member('standby', { pod: null, server: null }), member('standby', lostActive), aloneLost),
      dataLossRequest: `redundant@${new Date(T0 - 60 * S).toISOString()}#night-page`,
      grantsBindUntil: T0 - 1,
    },
    expect: {
      row: '2a',
      action: 'promote-accepting-data-loss',
      reason: 'DataLossAccepted',
      live: 'redundant',
      promote: 'redundant',
      fence: 'primary',
      epoch: 2,
      moved: true,
      countsAsFailover: false,
      phase: 'FailedOver',
      lastFailover: {
        from: '',
        to: 'redundant',
        action: 'promote-accepting-data-loss',
        reason: 'DataLossAccepted',
      },
      // It serves alone from its first moment; the member that served alone must resync from it.
      serving: {
        alone: { member: 'redundant', epoch: 2, since: T0 },
        grant: { member: 'redundant', epoch: 2, withPromotion: true },
        reason: 'PromoteAlone',
        message: 'the redundant member is promoted to serve alone: the other member failed',
      },
      conditions: { Ready: 'True', ServingAlone: 'True' },
    },
  },
  {
    name: 'the same request while a grant to the member that served alone may still be valid: wait for it',
    obs: {
      ...steady(member('standby', { pod: null, server: null }), member('standby', lostActive), aloneLost),
      dataLossRequest: `redundant@${new Date(T0 - 60 * S).toISOString()}`,
      grantsBindUntil: T0 + 3 * S,
    },
    expect: {
      row: '2b',
      action: 'none',
      reason: 'StandbyNotPromotable',
      live: '',
      promote: undefined,
      epoch: 1,
      phase: 'Unavailable',
      requeueAfterMs: 3000,
      conditions: { Ready: 'False', ServingAlone: 'True' },
    },
  },
  {
    name: 'serving alone: no failback or switchover to the not-promotable member',
    obs: steady(member('standby'), member('active', {}, 2), {
      ...afterFailover,
      servingAlone: { member: 'redundant', epoch: 2, since: T0 - 60 * S },
    }),
    policy: { failbackStableSeconds: 1 },
    expect: { action: 'none', reason: 'FailbackPending', live: 'redundant', promote: undefined },
  },
  {
    name: 'the live member lost its standby for a second: mark the standby and grant the live member',
    obs: steady(
      member('active', {
        server: { replication: 'disconnected', serving: { right: 'none', withoutPeerSeconds: 2 } },
      }),
      member('standby', { server: null }),
    ),
    expect: {
      action: 'none',
      live: 'primary',
      serving: {
        alone: { member: 'primary', epoch: 1, since: T0 },
        grant: { member: 'primary', epoch: 1 },
        reason: 'StartServingAlone',
        message: "the primary member lost its standby's acknowledgements; granting it to serve alone",
      },
      conditions: { Ready: 'True', ServingAlone: 'True' },
    },
  },
  {
    name: 'failover disabled: only report',
    obs: steady(member('active', probeFailed()), member('standby')),
    policy: { enabled: false },
    expect: {
      action: 'none',
      reason: 'FailoverDisabled',
      live: 'primary',
      fence: undefined,
      phase: 'Unavailable',
      conditions: { Ready: 'False', Degraded: 'True' },
    },
  },
  {
    name: 'failover delay pending: wait and requeue',
    obs: steady(member('active', probeFailed(3, T0 - 2 * S)), member('standby')),
    policy: { delaySeconds: 5 },
    expect: {
      action: 'none',
      reason: 'FailoverDelayed',
      live: 'primary',
      requeueAfterMs: 3000,
      phase: 'Unavailable',
    },
  },
  {
    name: 'failover delay elapsed',
    obs: steady(member('active', probeFailed(3, T0 - 5 * S)), member('standby')),
    policy: { delaySeconds: 5 },
    expect: { action: 'failover', live: 'redundant' },
  },
  {
    name: 'failover delay counts from the pod event',
    obs: steady(
      member('active', { pod: { deleting: true, deletionRequestedAt: T0 - 1 * S }, ...probeFailed(1, T0) }),
      member('standby'),
    ),
    policy: { delaySeconds: 3 },
    expect: { action: 'none', reason: 'FailoverDelayed', requeueAfterMs: 2000 },
  },
  {
    name: 'too soon after the last failover: wait and requeue',
    obs: steady(member('active', probeFailed()), member('standby'), { lastFailoverAt: T0 - 3 * S }),
    expect: { action: 'none', reason: 'MinIntervalNotElapsed', live: 'primary', requeueAfterMs: 7000 },
  },
  {
    name: 'too soon after the last failover, but the live pod was deleted: fail over now (nothing to flap)',
    obs: steady(
      member('active', { pod: { deleting: true, deletionRequestedAt: T0 - 100 }, ...probeFailed(1, T0) }),
      member('standby'),
      {
        lastFailoverAt: T0 - 3 * S,
      },
    ),
    expect: { action: 'failover', reason: 'PodDeleted', live: 'redundant' },
  },
  {
    name: 'too soon after the last failover, the live pod replaced (a new pod, pending): fail over now',
    obs: steady(
      member('active', { pod: { phase: 'Pending', ready: false }, ...notProbed }),
      member('standby'),
      {
        lastFailoverAt: T0 - 3 * S,
      },
    ),
    expect: { action: 'failover', reason: 'PodPending', live: 'redundant' },
  },
  {
    name: 'min interval elapsed',
    obs: steady(member('active', probeFailed()), member('standby'), { lastFailoverAt: T0 - 10 * S }),
    expect: { action: 'failover', live: 'redundant' },
  },
  // --- both down, recovery
  {
    name: 'no live member after an outage, nobody healthy',
    obs: steady(member('standby', probeFailed()), member('standby', { pod: null, server: null }), {
      liveMember: '',
      epoch: 3,
    }),
    expect: {
      action: 'none',
      reason: 'BothDown',
      live: '',
      phase: 'Unavailable',
      conditions: { Ready: 'False' },
    },
  },
  {
    name: 'no live member after an outage: serve the first to recover (the non-preferred one)',
    obs: steady(
      member('standby', probeFailed(), 3),
      member('standby', { server: { replication: 'disconnected' } }, 3),
      {
        liveMember: '',
        epoch: 3,
      },
    ),
    expect: {
      action: 'serve-first-recovered',
      reason: 'MemberRecovered',
      live: 'redundant',
      promote: 'redundant',
      epoch: 4,
      moved: true,
      countsAsFailover: false,
      lastFailover: { from: '', to: 'redundant', action: 'serve-first-recovered', reason: 'MemberRecovered' },
    },
  },
  {
    name: 'serving the first to recover ignores the minimum interval',
    obs: steady(member('standby', {}, 3), member('standby', probeFailed(), 3), {
      liveMember: '',
      epoch: 3,
      lastFailoverAt: T0 - S,
    }),
    expect: { action: 'serve-first-recovered', live: 'primary', epoch: 4 },
  },
  // --- after a failover
  {
    name: 'the failed member comes back as standby; failback waits for the stable period',
    obs: steady(
      member('standby', { probe: { successSince: T0 - 10 * S } }),
      member('active', {}, 2),
      afterFailover,
    ),
    expect: {
      action: 'none',
      reason: 'FailbackPending',
      live: 'redundant',
      requeueAfterMs: 20_000,
      phase: 'FailedOver',
      conditions: { Ready: 'True', Degraded: 'True', StandbyReady: 'True' },
    },
  },
  {
    name: 'stable period counts from in-sync, not just healthy',
    obs: steady(
      member('standby', { server: { inSyncSince: T0 - 5 * S } }),
      member('active', {}, 2),
      afterFailover,
    ),
    expect: { action: 'none', reason: 'FailbackPending', requeueAfterMs: 25_000 },
  },
  {
    name: 'the returning member is catching up: failback pending, untimed',
    obs: steady(
      member('standby', { server: { replication: 'catching-up' } }),
      member('active', {}, 2),
      afterFailover,
    ),
    expect: { action: 'none', reason: 'FailbackPending', requeueAfterMs: undefined },
  },
  {
    name: 'automatic failback after the stable period, as a graceful switchover',
    obs: steady(member('standby', {}, 2), member('active', {}, 2), afterFailover),
    expect: {
      action: 'failback',
      reason: 'FailbackStable',
      live: 'primary',
      fence: 'redundant',
      promote: 'primary',
      epoch: 3,
      countsAsFailover: true,
      phase: 'Running',
    },
  },
  {
    name: 'failback waits for the minimum interval too',
    obs: steady(member('standby', {}, 2), member('active', {}, 2), {
      ...afterFailover,
      lastFailoverAt: T0 - 4 * S,
    }),
    policy: { failbackStableSeconds: 0 },
    expect: { action: 'none', reason: 'FailbackPending', requeueAfterMs: 6000 },
  },
  {
    name: 'manual failback: stay on the redundant member',
    obs: steady(member('standby', {}, 2), member('active', {}, 2), afterFailover),
    policy: { failback: 'Manual' },
    expect: {
      action: 'none',
      reason: 'FailbackManual',
      live: 'redundant',
      phase: 'FailedOver',
      requeueAfterMs: undefined,
    },
  },
  {
    name: 'manual failback requested with the annotation',
    obs: {
      ...steady(member('standby', {}, 2), member('active', {}, 2), afterFailover),
      switchoverRequested: true,
    },
    policy: { failback: 'Manual' },
    expect: {
      action: 'switchover',
      reason: 'SwitchoverRequested',
      live: 'primary',
      fence: 'redundant',
      promote: 'primary',
      requestHandled: true,
    },
  },
  {
    name: 'a switchover request when already on the preferred member is handled at once',
    obs: { ...steady(member('active'), member('standby')), switchoverRequested: true },
    expect: { action: 'none', live: 'primary', requestHandled: true },
  },
  // --- planned switchover
  {
    name: 'preferredMember changed: planned switchover',
    obs: steady(member('active'), member('standby')),
    policy: { preferredMember: 'redundant' },
    expect: {
      action: 'switchover',
      reason: 'PreferredMemberChanged',
      live: 'redundant',
      fence: 'primary',
      promote: 'redundant',
      epoch: 2,
      acknowledgedPreferredMember: 'redundant',
      requestHandled: false,
      countsAsFailover: true,
      phase: 'Running',
    },
  },
  {
    name: 'planned switchover ignores the minimum interval and the stable period',
    obs: steady(member('active'), member('standby', { probe: { successSince: T0 - 2 * S } }), {
      lastFailoverAt: T0 - S,
    }),
    policy: { preferredMember: 'redundant', failback: 'Manual' },
    expect: { action: 'switchover', live: 'redundant' },
  },
  {
    name: 'planned switchover to an unhealthy member stays pending',
    obs: steady(member('active'), member('standby', probeFailed())),
    policy: { preferredMember: 'redundant' },
    expect: {
      action: 'none',
      reason: 'SwitchoverPending',
      live: 'primary',
      acknowledgedPreferredMember: 'primary',
    },
  },
  {
    name: 'planned switchover to a member catching up stays pending',
    obs: steady(member('active'), member('standby', { server: { replication: 'catching-up' } })),
    policy: { preferredMember: 'redundant' },
    expect: { action: 'none', reason: 'SwitchoverPending', live: 'primary' },
  },
  {
    name: 'preferredMember changed to the member that is already live: acknowledged',
    obs: steady(member('standby'), member('active', {}, 2), afterFailover),
    policy: { preferredMember: 'redundant' },
    expect: { action: 'none', live: 'redundant', acknowledgedPreferredMember: 'redundant', phase: 'Running' },
  },
  {
    name: 'a failure beats a pending switchover',
    obs: steady(member('active', probeFailed()), member('standby', probeFailed())),
    policy: { preferredMember: 'redundant' },
    expect: { action: 'fence-only', reason: 'BothDown', live: '' },
  },
  {
    name: 'spec change rolled out: the live member runs the old spec, the standby the new one: switch over to the standby first',
    obs: steady(member('active', { specOutdated: true }), member('standby', {})),
    expect: {
      action: 'switchover',
      reason: 'SpecChanged',
      live: 'redundant',
      fence: 'primary',
      promote: 'redundant',
      acknowledgedPreferredMember: 'redundant',
      requestHandled: false,
    },
  },
  {
    name: 'spec change rolled out, the standby on the new spec but not in sync yet: pending, nothing moves',
    obs: steady(
      member('active', { specOutdated: true }),
      member('standby', { server: { replication: 'catching-up' } }),
    ),
    expect: { action: 'none', reason: 'SwitchoverPending', live: 'primary' },
  },
  {
    name: 'spec change, both pods on the old spec: nothing moves (the standby is replaced first)',
    obs: steady(member('active', { specOutdated: true }), member('standby', { specOutdated: true })),
    expect: { action: 'none', reason: 'Healthy', live: 'primary' },
  },
  {
    name: 'after a rollout switchover, the preferred member still on its old pod (being replaced) is not switched back to',
    obs: steady(member('standby', { specOutdated: true }), member('active', {}, 2), {
      ...afterFailover,
      preferredMember: 'redundant',
    }),
    expect: {
      action: 'none',
      reason: 'SwitchoverPending',
      live: 'redundant',
      acknowledgedPreferredMember: 'redundant',
    },
  },
  {
    name: 'failback to a preferred member whose pod runs an older spec than the live one waits for its replacement',
    obs: steady(member('standby', { specOutdated: true }), member('active', {}, 2), afterFailover),
    policy: { failback: 'Automatic' },
    expect: { action: 'none', reason: 'FailbackPending', live: 'redundant' },
  },
  {
    name: 'after a rollout switchover, the preferred member (replaced, in sync) is switched back to',
    obs: steady(member('standby', {}), member('active', {}, 2), {
      ...afterFailover,
      preferredMember: 'redundant',
    }),
    expect: {
      action: 'switchover',
      reason: 'PreferredMemberChanged',
      live: 'primary',
      acknowledgedPreferredMember: 'primary',
    },
  },
  // --- fencing and repair
  {
    name: 'two actives: demote the standby',
    obs: steady(member('active'), member('active', {}, 1)),
    expect: {
      action: 'fence-only',
      reason: 'StrayActive',
      live: 'primary',
      fence: 'redundant',
      promote: undefined,
      moved: false,
    },
  },
  {
    name: 'the live member restarted and reports standby: promote it again',
    obs: steady(member('standby'), member('standby')),
    expect: {
      action: 'repromote',
      reason: 'LiveMemberNotActive',
      live: 'primary',
      promote: 'primary',
      epoch: 2,
      moved: false,
    },
  },
  {
    name: 'repromote waits for the success threshold',
    obs: steady(member('standby', { probe: { consecutiveSuccesses: 1 } }), member('standby')),
    expect: { action: 'none', live: 'primary' },
  },
  // --- protocol none
  {
    name: 'protocol none: server reports are ignored (no repromote, no replication gate)',
    obs: steady(member('standby'), member('standby', { server: { replication: 'catching-up' } })),
    policy: { protocol: 'none' },
    expect: { action: 'none', live: 'primary', phase: 'Running' },
  },
  {
    name: 'protocol none: failover on health only',
    obs: steady(
      member('active', probeFailed(), 9),
      member('standby', { server: { replication: 'catching-up' } }, 9),
    ),
    policy: { protocol: 'none' },
    expect: { action: 'failover', live: 'redundant', epoch: 2 },
  },
];

describe('decide: the rows of the table', () => {
  it('every row of the decision table decides at least one scenario', () => {
    const rows = new Set(
      scenarios.map((sc) => decide(sc.obs, { ...POLICY, ...sc.policy }, sc.now ?? T0).row),
    );
    expect([...rows].sort()).toEqual([...TABLE_ROWS].sort());
  });
});

describe('decide: scenario table', () => {
  it.each(scenarios.map((s) => [s.name, s] as const))('%s', (_name, s) => {
    const d = decide(s.obs, { ...POLICY, ...s.policy }, s.now ?? T0);
    check(d, s.expect);
    const protocol = s.policy?.protocol ?? POLICY.protocol;
    expect(d.conditions.map((c) => c.type)).toEqual([
      'Ready',
      'Degraded',
      'StandbyReady',
      'ServingAlone',
      ...(protocol === 'reference' ? ['LicenceValid'] : []),
    ]);
  });
});

describe('decide: sequences', () => {
  it('delay → failover → member returns → stable → failback', () => {
    const p: Policy = { ...POLICY, delaySeconds: 2 };
    let st = status();
    // t=0: first failed check; t=4: threshold reached, delay from first failure (t=0) elapsed at t=2
    const failing = () => member('active', probeFailed(3, T0));
    let d = decide(steady(failing(), member('standby')), p, T0 + 1 * S);
    expect(d.reason).toBe('FailoverDelayed');
    expect(d.requeueAfterMs).toBe(1000);
    d = decide(steady(failing(), member('standby')), p, T0 + 2 * S);
    expect(d.action).toBe('failover');
    expect(d.lastFailover?.detectionSeconds).toBe(2);
    st = {
      ...st,
      liveMember: d.live,
      epoch: d.epoch,
      lastFailoverAt: T0 + 2 * S,
      liveSince: T0 + 2 * S,
      failoverCount: 1,
    };
    // primary pod recreated, starts
    d = decide(steady(member('standby', pending, 0), member('active', {}, 2), st), p, T0 + 10 * S);
    expect(d).toMatchObject({ action: 'none', live: 'redundant', phase: 'FailedOver' });
    // healthy again since t=20, in sync since t=22
    const back = member(
      'standby',
      { probe: { successSince: T0 + 20 * S }, server: { inSyncSince: T0 + 22 * S } },
      2,
    );
    d = decide(steady(back, member('active', {}, 2), st), p, T0 + 30 * S);
    expect(d).toMatchObject({ action: 'none', reason: 'FailbackPending', requeueAfterMs: 22_000 });
    d = decide(steady(back, member('active', {}, 2), st), p, T0 + 52 * S);
    expect(d).toMatchObject({
      action: 'failback',
      live: 'primary',
      fence: 'redundant',
      promote: 'primary',
      epoch: 3,
    });
  });

  it('both down → first recovered is served → the other returns as standby', () => {
    let d = decide(steady(member('active', probeFailed()), member('standby', probeFailed())), POLICY, T0);
    expect(d).toMatchObject({ action: 'fence-only', live: '', phase: 'Unavailable' });
    const st = status({ liveMember: '', epoch: d.epoch, lastFailoverAt: T0 });
    d = decide(
      steady(
        member('standby', probeFailed()),
        member('standby', { server: { replication: 'disconnected' } }),
        st,
      ),
      POLICY,
      T0 + 5 * S,
    );
    expect(d).toMatchObject({ action: 'serve-first-recovered', live: 'redundant', epoch: 2 });
    const st2 = status({
      liveMember: 'redundant',
      epoch: 2,
      lastFailoverAt: T0 + 5 * S,
      liveSince: T0 + 5 * S,
    });
    d = decide(
      steady(member('standby', { probe: { successSince: T0 + 6 * S } }), member('active', {}, 2), st2),
      POLICY,
      T0 + 7 * S,
    );
    expect(d).toMatchObject({ action: 'none', live: 'redundant', reason: 'FailbackPending' });
  });
});
