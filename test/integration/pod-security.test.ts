import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNamespace, deleteNamespace, eventually, kube, type Kube } from '../support/kube.ts';
import { kubectl } from '../support/kubectl.ts';
import { ensureCrd, OperatorProcess } from '../support/operator.ts';

// Every pod the operator creates passes the API server's Pod Security admission at the
// `restricted` level: in a namespace that enforces it, the pair's pods are admitted, while a pod
// without the restricted settings is refused (so the admission really is on).

let k: Kube;
let ns: string;
let operator: OperatorProcess;

beforeAll(async () => {
  k = kube();
  ensureCrd(kubectl);
  ns = await createNamespace(k, 'restricted');
  kubectl([
    'label',
    'namespace',
    ns,
    'pod-security.kubernetes.io/enforce=restricted',
    'pod-security.kubernetes.io/enforce-version=latest',
  ]);
  operator = new OperatorProcess({ LEADER_ELECT: 'false', WATCH_NAMESPACE: ns });
  await operator.start();
});

afterAll(async () => {
  await operator?.stop();
  await deleteNamespace(k, ns);
});

describe('Pod Security Standard restricted', () => {
  it('refuses a pod without the restricted settings (the admission is enforcing)', async () => {
    const err = await k.core
      .createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name: 'plain' },
          spec: { containers: [{ name: 'c', image: 'example.invalid/x:1' }] },
        },
      })
      .then(
        () => undefined,
        (e: unknown) => e as { code?: number; body?: string },
      );
    expect(err?.code).toBe(403);
    const message = (JSON.parse(String(err?.body)) as { message: string }).message;
    expect(message).toMatch(/violates PodSecurity "restricted/);
  });

  it('admits both member pods of a pair', async () => {
    kubectl(
      ['apply', '-f', '-'],
      `apiVersion: lpo.dev/v1alpha1\nkind: LicenseServerPair\nmetadata: {name: strict, namespace: ${ns}}\nspec:\n  server: {license: {secretName: strict-license}}\n`,
    );
    const pods = await eventually(
      'both member pods created',
      async () => {
        const list = await k.core.listNamespacedPod({ namespace: ns, labelSelector: 'lpo.dev/pair=strict' });
        return list.items.length === 2 ? list.items : undefined;
      },
      30_000,
    );
    expect(pods.map((p) => p.metadata?.name).sort()).toEqual(['strict-primary', 'strict-redundant']);
    expect(
      await operator.metricValue('controller_runtime_reconcile_errors_total', {
        controller: 'licenseserverpair',
      }),
    ).toBe(0);
  });
});
