import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { find, render } from '../chart/lib.ts';
import { createNamespace, deleteNamespace, eventually, kube, type Kube } from '../support/kube.ts';
import { kubectl } from '../support/kubectl.ts';
import { ensureCrd, OperatorProcess } from '../support/operator.ts';

// Every pod the project creates passes the API server's Pod Security admission at the `restricted`
// level: in a namespace that enforces it, the pair's member pods and the chart's operator pod are
// admitted, while a pod without the restricted settings is refused (so the admission really is on).

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

  it('admits the operator pod of the chart (its Deployment’s pod template, created as a pod)', () => {
    const objs = render([], ns, 'psa');
    const dep = find(objs, 'Deployment') as unknown as {
      spec: { template: { metadata: Record<string, unknown>; spec: Record<string, unknown> } };
    };
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'operator-from-chart', namespace: ns, labels: dep.spec.template.metadata['labels'] },
      // The ServiceAccount is not created here: the dry run checks admission, not the account.
      spec: { ...dep.spec.template.spec, serviceAccountName: 'default' },
    };
    const out = kubectl(['create', '--dry-run=server', '-f', '-', '-o', 'name'], JSON.stringify(pod));
    expect(out.trim()).toBe('pod/operator-from-chart');
  });
});
