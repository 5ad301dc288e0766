// Reads the operator's /metrics through the Kubernetes API server's pod proxy
// (GET /api/v1/namespaces/NS/pods/POD:PORT/proxy/metrics), so that lspctl needs no network path
// to the operator, only RBAC (docs/cli.md, "Probe times from the operator").
//
// Pods, not the metrics Service: the Service forwards to any ready replica, and only the leader
// checks members, so half the answers of a two-replica install would have no probe times.
import * as k8s from '@kubernetes/client-node';
import { apiStatusOf } from './kube-errors.ts';
import type { OperatorMetricsText } from './probe-metrics.ts';

/** The chart's pod label (app.kubernetes.io/name is the chart name unless nameOverride is set). */
export const DEFAULT_OPERATOR_SELECTOR = 'app.kubernetes.io/name=license-pair-operator';
/** The container port the chart names `metrics`. */
const METRICS_PORT_NAME = 'metrics';

export interface OperatorLocation {
  /** the operator's namespace; undefined: look for its pods in every namespace */
  namespace?: string;
  /** label selector of the operator's pods */
  selector: string;
  /** how long listing the pods, and each pod's /metrics, may take */
  timeoutMs: number;
}

export interface OperatorScrape {
  texts: OperatorMetricsText[];
  /** `namespace/pod: why`, for pods whose /metrics could not be read */
  failures: string[];
}

/** A pod to read: where it is and the proxy's name for it (`pod:port`). */
export interface ScrapeTarget {
  namespace: string;
  pod: string;
  proxyName: string;
}

/**
 * The running operator pods, each with its metrics port. A pod without a port named `metrics` is
 * read on its first port, which is what the API server's pod proxy does without a port.
 */
export function scrapeTargets(pods: k8s.V1Pod[]): ScrapeTarget[] {
  return pods
    .filter((p) => p.status?.phase === 'Running' && p.status.podIP && !p.metadata?.deletionTimestamp)
    .map((p) => {
      const pod = p.metadata?.name ?? '';
      const port = p.spec?.containers
        .flatMap((c) => c.ports ?? [])
        .find((cp) => cp.name === METRICS_PORT_NAME)?.containerPort;
      return {
        namespace: p.metadata?.namespace ?? '',
        pod,
        proxyName: port === undefined ? pod : `${pod}:${port}`,
      };
    })
    .filter((t) => t.pod !== '');
}

/** client-node has no per-call timeout: a middleware gives the request an abort signal. */
function withTimeout(ms: number): k8s.ConfigurationOptions {
  return {
    middleware: [
      {
        pre: (ctx) => {
          ctx.setSignal(AbortSignal.timeout(ms));
          return new k8s.Observable(Promise.resolve(ctx));
        },
        post: (res) => new k8s.Observable(Promise.resolve(res)),
      },
    ],
    middlewareMergeStrategy: 'append',
  };
}

/** Why a read through the API server failed, in a few words. */
export function describeReadError(err: unknown, timeoutMs: number): string {
  if (err instanceof k8s.ApiException) {
    const st = apiStatusOf(err.body);
    if (err.code === 403) return `forbidden: ${st.message ?? 'no permission'}`;
    // The proxy's own failures (a pod it cannot dial) come back as 5xx with the reason in the message.
    return `the API server answered ${err.code}: ${st.message ?? err.message}`;
  }
  const e = err as Error & { cause?: { message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `no answer within ${timeoutMs / 1000} s`;
  return e.cause?.message ?? e.message ?? String(err);
}

/** Find the operator's pods and read each one's /metrics through the API server. */
export async function scrapeOperator(core: k8s.CoreV1Api, where: OperatorLocation): Promise<OperatorScrape> {
  const options = withTimeout(where.timeoutMs);
  const scope = where.namespace ? `namespace ${where.namespace}` : 'any namespace';
  let pods: k8s.V1PodList;
  try {
    pods = where.namespace
      ? await core.listNamespacedPod({ namespace: where.namespace, labelSelector: where.selector }, options)
      : await core.listPodForAllNamespaces({ labelSelector: where.selector }, options);
  } catch (err) {
    const hint = where.namespace ? '' : ' (give --operator-namespace)';
    throw new Error(
      `cannot list the operator's pods in ${scope}: ${describeReadError(err, where.timeoutMs)}${hint}`,
      { cause: err },
    );
  }
  const targets = scrapeTargets(pods.items);
  if (targets.length === 0) {
    throw new Error(
      `no running operator pod with labels ${where.selector} in ${scope} (see --operator-namespace, --operator-selector)`,
    );
  }
  const texts: OperatorMetricsText[] = [];
  const failures: string[] = [];
  await Promise.all(
    targets.map(async (t) => {
      const pod = `${t.namespace}/${t.pod}`;
      try {
        const text = await core.connectGetNamespacedPodProxyWithPath(
          { namespace: t.namespace, name: t.proxyName, path: 'metrics' },
          options,
        );
        texts.push({ pod, text });
      } catch (err) {
        failures.push(`${pod}: ${describeReadError(err, where.timeoutMs)}`);
      }
    }),
  );
  texts.sort((a, b) => a.pod.localeCompare(b.pod));
  return { texts, failures: failures.sort() };
}
