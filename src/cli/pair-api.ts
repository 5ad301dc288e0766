// The Kubernetes side of the pair commands: what they read and patch, on the kubeconfig that
// kubectl would use. Thin: every decision about what to show or patch is made elsewhere.
import * as k8s from '@kubernetes/client-node';
import { GROUP, KIND, PLURAL, VERSION } from '../api/pair.ts';
import { shareConnections } from '../kube/connections.ts';
import { kubeError } from './kube-errors.ts';
import { scrapeOperator } from './operator-scrape.ts';
import type { OperatorLocation, OperatorScrape } from './operator-scrape.ts';
import { toPairEvent } from './pair-events.ts';
import type { PairEvent, PairObject } from './pair-object.ts';
import { CliExit, EXIT } from './command-io.ts';

/** What the commands need from the API server (a fake in unit tests). */
export interface PairApi {
  /** where the API server is, for messages */
  server: string;
  /** the namespace from -n, the context, or `default` */
  namespace: string;
  get(namespace: string, name: string): Promise<PairObject>;
  /** all namespaces when `namespace` is undefined */
  list(namespace: string | undefined): Promise<PairObject[]>;
  mergePatch(namespace: string, name: string, patch: Record<string, unknown>): Promise<PairObject>;
  events(namespace: string, name: string): Promise<PairEvent[]>;
  /** the operator pods' /metrics, through the API server's pod proxy; throws when none can be found */
  scrapeOperator(where: OperatorLocation): Promise<OperatorScrape>;
}

export interface KubeOptions {
  namespace?: string;
  context?: string;
}

function loadKubeConfig(opts: KubeOptions): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  try {
    kc.loadFromDefault();
  } catch (err) {
    throw new CliExit(EXIT.USAGE, `cannot load the kubeconfig: ${(err as Error).message}`);
  }
  shareConnections(kc);
  // Without KUBECONFIG, ~/.kube/config or a service account, client-node falls back to
  // http://localhost:8080 (as kubectl does); say so instead of a TLS complaint.
  if (
    kc.getCurrentContext() === 'loaded-context' &&
    kc.getCurrentCluster()?.server === 'http://localhost:8080'
  ) {
    throw new CliExit(
      EXIT.UNAVAILABLE,
      'no Kubernetes API server configured: set KUBECONFIG, create ~/.kube/config, or run in a pod',
    );
  }
  if (opts.context) {
    if (!kc.getContextObject(opts.context)) {
      throw new CliExit(EXIT.USAGE, `context "${opts.context}" does not exist in the kubeconfig`);
    }
    kc.setCurrentContext(opts.context);
  }
  return kc;
}

/** A PairApi on the kubeconfig that kubectl would use (KUBECONFIG, ~/.kube/config, in-cluster). */
export function connect(opts: KubeOptions): PairApi {
  const kc = loadKubeConfig(opts);
  const namespace = opts.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const server = kc.getCurrentCluster()?.server ?? '(no cluster in the kubeconfig)';
  const base = { group: GROUP, version: VERSION, plural: PLURAL };
  const call = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (err) {
      throw kubeError(err, what, server);
    }
  };
  return {
    server,
    namespace,
    get: (ns, name) =>
      call(
        `licenseserverpair "${name}" in namespace "${ns}"`,
        async () => (await custom.getNamespacedCustomObject({ ...base, namespace: ns, name })) as PairObject,
      ),
    list: (ns) =>
      call(ns ? `licenseserverpairs in namespace "${ns}"` : 'licenseserverpairs', async () => {
        const list = (
          ns
            ? await custom.listNamespacedCustomObject({ ...base, namespace: ns })
            : await custom.listClusterCustomObject(base)
        ) as { items?: PairObject[] };
        return list.items ?? [];
      }),
    mergePatch: (ns, name, patch) =>
      call(
        `licenseserverpair "${name}" in namespace "${ns}"`,
        async () =>
          (await custom.patchNamespacedCustomObject(
            { ...base, namespace: ns, name, body: patch },
            k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
          )) as PairObject,
      ),
    events: (ns, name) =>
      call(`events of licenseserverpair "${name}"`, async () => {
        const list = await core.listNamespacedEvent({
          namespace: ns,
          fieldSelector: `involvedObject.name=${name},involvedObject.kind=${KIND}`,
        });
        return list.items.map(toPairEvent);
      }),
    scrapeOperator: (where) => scrapeOperator(core, where),
  };
}
