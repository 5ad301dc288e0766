// What the decision reads of one pair (observation.ts: Observation), from the pods, their nodes, the
// prober's state and the pair's status. Pure: the caches are passed in as lookups.
import type * as k8s from '@kubernetes/client-node';
import { MEMBERS, type Member, type PairStatus } from '../api/pair.ts';
import type { Observation } from './observation.ts';
import { observeNode, observePod } from './observe-kube.ts';
import type { MemberProbeState } from './probe-check.ts';

export interface ObservationSources {
  pods: Record<Member, k8s.V1Pod | undefined>;
  probe: (m: Member) => MemberProbeState;
  /** the node a pod runs on; undefined when the operator does not watch nodes */
  node?: (name: string) => k8s.V1Node | undefined;
  status: PairStatus;
  /** the value of the switchover-request annotation */
  switchoverRequest: string | undefined;
}

export function observePair(s: ObservationSources): Observation {
  const members = {} as Observation['members'];
  for (const m of MEMBERS) {
    const pod = s.pods[m];
    const probe = s.probe(m);
    const node = pod?.spec?.nodeName && s.node ? s.node(pod.spec.nodeName) : undefined;
    const podObs = observePod(pod);
    const nodeObs = s.node ? observeNode(pod, node) : undefined;
    members[m] = {
      ...(podObs ? { pod: podObs } : {}),
      ...(nodeObs ? { node: nodeObs } : {}),
      probe: probe.history,
      // The decision acts only on reports this process read (a report taken over from status
      // fills in the status, probe-seed.ts).
      ...(probe.server && !probe.fromStatus ? { server: probe.server } : {}),
    };
  }
  const status = s.status;
  const ms = (t: string | undefined) => (t ? Date.parse(t) : undefined);
  const lastFailoverAt = ms(status.lastFailover?.time);
  const liveSince = ms(status.liveSince);
  return {
    members,
    status: {
      liveMember: status.liveMember ?? '',
      epoch: status.epoch ?? 0,
      ...(lastFailoverAt !== undefined ? { lastFailoverAt } : {}),
      ...(liveSince !== undefined ? { liveSince } : {}),
      failoverCount: status.failoverCount ?? 0,
      ...(status.preferredMember ? { preferredMember: status.preferredMember } : {}),
      ...(status.servingAlone
        ? {
            servingAlone: {
              member: status.servingAlone.member,
              epoch: status.servingAlone.epoch,
              since: Date.parse(status.servingAlone.since),
            },
          }
        : {}),
    },
    switchoverRequested:
      s.switchoverRequest !== undefined && s.switchoverRequest !== status.lastSwitchoverRequest,
  };
}
