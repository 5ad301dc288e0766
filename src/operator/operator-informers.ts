import type * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { API_VERSION, KIND, PLURAL } from '../api/pair.ts';
import { Informer } from '../kube/informer.ts';
import { metadataOnly, slimNode, slimPod, withoutManagedFields } from '../kube/slim.ts';

const MANAGED = 'app.kubernetes.io/managed-by=license-pair-operator';

export interface InformerSettings {
  kc: k8s.KubeConfig;
  /** Empty: the whole cluster. */
  watchNamespaces: string[];
  resyncMs: number;
  log: Logger;
  registry: Registry;
}

/** The pairs and what they own or use: per resource, one informer per watched namespace. */
export interface OperatorInformers {
  pairs: Informer<k8s.KubernetesObject>[];
  pods: Informer<k8s.V1Pod>[];
  services: Informer<k8s.V1Service>[];
  pdbs: Informer<k8s.V1PodDisruptionBudget>[];
  pvcs: Informer<k8s.V1PersistentVolumeClaim>[];
  networkPolicies: Informer<k8s.V1NetworkPolicy>[];
  nodes?: Informer<k8s.V1Node>;
  /** Every informer above, in the order they were made. */
  all: Informer<k8s.KubernetesObject>[];
}

export function createInformers(opts: InformerSettings): OperatorInformers {
  const all: Informer<k8s.KubernetesObject>[] = [];
  const scopes = opts.watchNamespaces.length ? opts.watchNamespaces : [undefined];
  const make = <T extends k8s.KubernetesObject>(
    apiVersion: string,
    kind: string,
    plural: string,
    ns: string | undefined,
    labelSelector: string | undefined,
    transform: (obj: T) => T,
  ) => {
    const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const inf = new Informer<T>({
      kc: opts.kc,
      apiVersion,
      kind,
      path: ns ? `${base}/namespaces/${ns}/${plural}` : `${base}/${plural}`,
      ...(ns ? { namespace: ns } : {}),
      ...(labelSelector ? { labelSelector } : {}),
      transform,
      resyncMs: opts.resyncMs,
      log: opts.log,
      registry: opts.registry,
    });
    all.push(inf as unknown as Informer<k8s.KubernetesObject>);
    return inf;
  };
  // The caches keep only what the reconciler reads (src/kube/slim.ts): a thousand pairs fit in
  // a small heap.
  const pairs = scopes.map((ns) =>
    make<k8s.KubernetesObject>(API_VERSION, KIND, PLURAL, ns, undefined, withoutManagedFields),
  );
  const pods = scopes.map((ns) => make<k8s.V1Pod>('v1', 'Pod', 'pods', ns, MANAGED, slimPod));
  const services = scopes.map((ns) =>
    make<k8s.V1Service>('v1', 'Service', 'services', ns, MANAGED, metadataOnly),
  );
  const pdbs = scopes.map((ns) =>
    make<k8s.V1PodDisruptionBudget>(
      'policy/v1',
      'PodDisruptionBudget',
      'poddisruptionbudgets',
      ns,
      MANAGED,
      metadataOnly,
    ),
  );
  const pvcs = scopes.map((ns) =>
    make<k8s.V1PersistentVolumeClaim>(
      'v1',
      'PersistentVolumeClaim',
      'persistentvolumeclaims',
      ns,
      MANAGED,
      metadataOnly,
    ),
  );
  const networkPolicies = scopes.map((ns) =>
    make<k8s.V1NetworkPolicy>(
      'networking.k8s.io/v1',
      'NetworkPolicy',
      'networkpolicies',
      ns,
      MANAGED,
      metadataOnly,
    ),
  );
  // Node signals need cluster-wide read access; a single-namespace install goes without them.
  const nodes = opts.watchNamespaces.length
    ? undefined
    : make<k8s.V1Node>('v1', 'Node', 'nodes', undefined, undefined, slimNode);
  return { pairs, pods, services, pdbs, pvcs, networkPolicies, ...(nodes ? { nodes } : {}), all };
}

/** Reads across the per-namespace informers of one resource. */
export function mergedView<T extends k8s.KubernetesObject>(list: Informer<T>[]): Informer<T> {
  if (list.length === 1) return list[0]!;
  return {
    get: (key: string) => {
      for (const inf of list) {
        const v = inf.get(key);
        if (v) return v;
      }
      return undefined;
    },
    list: () => list.flatMap((i) => i.list()),
  } as unknown as Informer<T>;
}
