import type * as k8s from '@kubernetes/client-node';
import type { AppReport } from '../e2e/fixtures/app-client.ts';

/**
 * The application pod of test/e2e/fixtures/app-client.ts: the project's LicenseClient on
 * keep-alive connections to a licence Service by its cluster DNS name, two holders of a seat and a
 * churner. Used by the failover tests and the failover benchmark alike.
 */
export const APP_IMAGE = 'lpo.local/app-client:test';

export interface AppPodOptions {
  name: string;
  namespace: string;
  /** the Service URL, e.g. https://eda-tools.<ns>.svc:7070 */
  url: string;
  /** a ConfigMap with `ca.crt` to verify the server with (https URLs) */
  caConfigMap?: string;
  feature: string;
  nodeSelector?: Record<string, string>;
  /** the client's hedgeAfterMs (src/client/hedge.ts); unhedged without it */
  hedgeAfterMs?: number;
}

export function appPod(o: AppPodOptions): k8s.V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: o.name, namespace: o.namespace, labels: { app: o.name } },
    spec: {
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      ...(o.nodeSelector ? { nodeSelector: o.nodeSelector } : {}),
      securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532 },
      containers: [
        {
          name: 'app',
          image: APP_IMAGE,
          imagePullPolicy: 'Never',
          env: [
            { name: 'PAIR_URL', value: o.url },
            ...(o.caConfigMap ? [{ name: 'CA_FILE', value: '/etc/pair-ca/ca.crt' }] : []),
            { name: 'FEATURE', value: o.feature },
            { name: 'HOLDERS', value: '2' },
            ...(o.hedgeAfterMs !== undefined
              ? [{ name: 'HEDGE_AFTER_MS', value: String(o.hedgeAfterMs) }]
              : []),
          ],
          ports: [{ name: 'report', containerPort: 8080 }],
          readinessProbe: { httpGet: { path: '/readyz', port: 8080 }, periodSeconds: 1 },
          securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
          },
          ...(o.caConfigMap
            ? { volumeMounts: [{ name: 'pair-ca', mountPath: '/etc/pair-ca', readOnly: true }] }
            : {}),
        },
      ],
      ...(o.caConfigMap ? { volumes: [{ name: 'pair-ca', configMap: { name: o.caConfigMap } }] } : {}),
    },
  };
}

/** Ready once both holders hold their seat. */
export async function appReady(core: k8s.CoreV1Api, namespace: string, name: string): Promise<boolean> {
  const p = await core.readNamespacedPod({ namespace, name });
  return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** What the application saw since `since` (ms), read from its pod (the machine reaches pod IPs). */
export async function appReport(
  core: k8s.CoreV1Api,
  namespace: string,
  name: string,
  since = 0,
): Promise<AppReport> {
  const p = await core.readNamespacedPod({ namespace, name });
  const res = await fetch(`http://${p.status!.podIP!}:8080/report?since=${since}`, {
    signal: AbortSignal.timeout(5000),
  });
  return (await res.json()) as AppReport;
}
