import type * as k8s from '@kubernetes/client-node';
import { LABEL_PAIR } from '../api/pair.ts';
import { objectKey, type Informer } from '../kube/informer.ts';
import type { TriggerSource } from './metrics.ts';
import type { OperatorInformers } from './operator-informers.ts';

/** Queues the reconcile of the pair `key` (`namespace/name`). */
export type Trigger = (key: string, source: TriggerSource, opts?: { urgent?: boolean }) => void;

/**
 * The informer events that are a reason to reconcile a pair. A member pod deleted, not ready or
 * with its container terminated, and its node not ready or gone, are urgent.
 */
export function triggerReconciles(informers: OperatorInformers, trigger: Trigger): void {
  const pairsByNode = new PairsByNode();
  const enqueue = (obj: k8s.KubernetesObject, source: TriggerSource) => trigger(objectKey(obj), source);
  for (const inf of informers.pairs) {
    inf.on({
      add: (o) => enqueue(o, 'pair'),
      update: (a, b) => {
        // Spec or annotation changes; status-only updates are our own writes.
        if (
          a.metadata?.generation !== b.metadata?.generation ||
          JSON.stringify(a.metadata?.annotations) !== JSON.stringify(b.metadata?.annotations)
        )
          enqueue(b, 'pair');
      },
      delete: (o) => enqueue(o, 'pair'),
      resync: (o) => enqueue(o, 'resync'),
    });
  }
  const ownerKey = (o: k8s.KubernetesObject) => {
    const pair = o.metadata?.labels?.[LABEL_PAIR];
    return pair ? `${o.metadata?.namespace}/${pair}` : undefined;
  };
  for (const inf of informers.pods) {
    inf.on({
      add: (p) => {
        pairsByNode.index(p);
        const k = ownerKey(p);
        if (k) trigger(k, 'pod');
      },
      update: (a, b) => {
        pairsByNode.index(b);
        const k = ownerKey(b);
        if (k) trigger(k, 'pod', { urgent: podGotWorse(a, b) });
      },
      delete: (p) => {
        pairsByNode.unindex(p);
        const k = ownerKey(p);
        if (k) trigger(k, 'pod', { urgent: true });
      },
    });
  }
  const { services, pdbs, pvcs, networkPolicies } = informers;
  for (const infs of [services, pdbs, pvcs, networkPolicies] as Informer<k8s.KubernetesObject>[][]) {
    for (const inf of infs) {
      inf.on({
        // A child changed or removed by someone else is put back.
        update: (a, b) => {
          const k = ownerKey(b);
          if (k && childChanged(a, b)) trigger(k, 'child');
        },
        delete: (o) => {
          const k = ownerKey(o);
          if (k) trigger(k, 'child');
        },
      });
    }
  }
  informers.nodes?.on({
    update: (a, b) => {
      if (nodeReady(a) !== nodeReady(b))
        for (const k of pairsByNode.pairsOn(b.metadata!.name!))
          trigger(k, 'node', { urgent: nodeReady(b) !== 'True' });
    },
    delete: (n) => {
      for (const k of pairsByNode.pairsOn(n.metadata!.name!)) trigger(k, 'node', { urgent: true });
    },
  });
}

/** The pairs with a member pod on each node, from the pod events. */
class PairsByNode {
  private readonly byNode = new Map<string, Set<string>>();

  index(p: k8s.V1Pod): void {
    const node = p.spec?.nodeName;
    const k = p.metadata?.labels?.[LABEL_PAIR];
    if (!node || !k) return;
    const set = this.byNode.get(node) ?? new Set<string>();
    set.add(`${p.metadata?.namespace}/${k}`);
    this.byNode.set(node, set);
  }

  unindex(p: k8s.V1Pod): void {
    const node = p.spec?.nodeName;
    const k = p.metadata?.labels?.[LABEL_PAIR];
    if (!node || !k) return;
    this.byNode.get(node)?.delete(`${p.metadata?.namespace}/${k}`);
  }

  pairsOn(node: string): string[] {
    return [...(this.byNode.get(node) ?? [])];
  }
}

function podReady(p: k8s.V1Pod): boolean {
  return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

function podGotWorse(a: k8s.V1Pod, b: k8s.V1Pod): boolean {
  if (!a.metadata?.deletionTimestamp && b.metadata?.deletionTimestamp) return true;
  if (podReady(a) && !podReady(b)) return true;
  const terminated = (p: k8s.V1Pod) =>
    p.status?.containerStatuses?.some((c) => c.state?.terminated !== undefined) ?? false;
  return !terminated(a) && terminated(b);
}

/**
 * What the operator reads of a child is its metadata (the applied hash, labels, deletion) and, for
 * drift, its generation: a status update (a PDB's counts, changed with every pod) is not a reason
 * to reconcile.
 */
function childChanged(a: k8s.KubernetesObject, b: k8s.KubernetesObject): boolean {
  const m = (o: k8s.KubernetesObject) => o.metadata ?? {};
  return (
    m(a).generation !== m(b).generation ||
    m(a).deletionTimestamp !== m(b).deletionTimestamp ||
    JSON.stringify(m(a).annotations) !== JSON.stringify(m(b).annotations) ||
    JSON.stringify(m(a).labels) !== JSON.stringify(m(b).labels)
  );
}

function nodeReady(n: k8s.V1Node): string {
  return n.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? 'Unknown';
}
