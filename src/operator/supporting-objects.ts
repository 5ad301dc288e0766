// A pair's member Services, PVCs, PodDisruptionBudget and NetworkPolicy, kept as desired. The
// client Service is not among them: it is applied after the decision is carried out (never before
// a promotion).
import type * as k8s from '@kubernetes/client-node';
import { MEMBERS, type LicenseServerPair } from '../api/pair.ts';
import type { Informer } from '../kube/informer.ts';
import type { KubeWriter } from '../kube/writer.ts';
import { childNames } from './child-names.ts';
import { desiredPvc } from './member-state-claim.ts';
import { desiredPdb } from './pair-disruption-budget.ts';
import { desiredNetworkPolicy, type OperatorPeer } from './pair-network-policy.ts';
import { desiredMemberService } from './pair-services.ts';
import { settleAll } from './settle-all.ts';

export interface SupportingObjectsDeps {
  writer: Pick<KubeWriter, 'applyReplacingImmutable' | 'applyIfChanged' | 'createIfAbsent' | 'delete'>;
  services: Informer<k8s.V1Service>;
  pvcs: Informer<k8s.V1PersistentVolumeClaim>;
  pdbs: Informer<k8s.V1PodDisruptionBudget>;
  networkPolicies: Informer<k8s.V1NetworkPolicy>;
  /** The operator's own pods, admitted by each pair's NetworkPolicy. */
  operatorPeer?: OperatorPeer;
}

/**
 * Independent of each other, written concurrently. Their desired state never drops a field (fixed
 * shapes; the policy's rules are one atomic list), so they are created with a plain POST
 * (KubeWriter.applyIfChanged).
 */
export async function ensureSupportingObjects(
  d: SupportingObjectsDeps,
  pair: LicenseServerPair,
): Promise<void> {
  const ns = pair.metadata.namespace;
  const names = childNames(pair.metadata.name);
  const post = { createWithPost: true };
  const writes: Promise<unknown>[] = [];
  for (const m of MEMBERS) {
    // Member Services made before they were headless are replaced (clusterIP cannot change).
    writes.push(
      d.writer.applyReplacingImmutable(
        desiredMemberService(pair, m),
        d.services.get(`${ns}/${names.memberService[m]}`),
        post,
      ),
    );
    const pvc = desiredPvc(pair, m);
    if (pvc && !d.pvcs.get(`${ns}/${names.pvc[m]}`)) writes.push(d.writer.createIfAbsent(pvc));
  }
  writes.push(d.writer.applyIfChanged(desiredPdb(pair), d.pdbs.get(`${ns}/${names.pdb}`), post));
  const policy = desiredNetworkPolicy(pair, d.operatorPeer);
  const livePolicy = d.networkPolicies.get(`${ns}/${names.networkPolicy}`);
  if (policy) writes.push(d.writer.applyIfChanged(policy, livePolicy, post));
  else if (livePolicy) writes.push(d.writer.delete(livePolicy, { uid: livePolicy.metadata!.uid! }));
  await settleAll(writes);
}
