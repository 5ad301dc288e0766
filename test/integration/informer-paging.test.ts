import type * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Informer } from '../../src/kube/informer.ts';
import { createNamespace, deleteNamespace, kube, type Kube } from '../support/kube.ts';
import { kubectl } from '../support/kubectl.ts';
import { createLoopbackPairObject } from '../support/members.ts';
import { ensureCrd } from '../support/operator.ts';

// An informer's list comes in pages (500 objects each in the operator). With more objects than a
// page, every page must be read: for custom resources client-node hands back the list metadata as
// the API server wrote it (`continue`, not `_continue`), and an operator restarted with more than
// 500 pairs once saw only the first 500 (the others were neither reconciled nor checked). Here a
// page is 2 objects, against a real API server.

const COUNT = 5;
let k: Kube;
let ns: string;
const informers: Informer<k8s.KubernetesObject>[] = [];

beforeAll(async () => {
  k = kube();
  ensureCrd(kubectl);
  ns = await createNamespace(k, 'paging');
  const ports = { licences: 17070, admin: 17071, metrics: 17072 };
  for (let i = 0; i < COUNT; i++) {
    await createLoopbackPairObject(k, ns, `pair-${i}`, ports, {});
    await k.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: `cm-${i}` } } });
  }
});

afterAll(async () => {
  for (const inf of informers) inf.stop();
  await deleteNamespace(k, ns);
});

async function listedBy(apiVersion: string, kind: string, path: string): Promise<string[]> {
  const inf = new Informer<k8s.KubernetesObject>({
    kc: k.kc,
    apiVersion,
    kind,
    path,
    namespace: ns,
    pageSize: 2,
    resyncMs: 3_600_000,
    log: pino({ level: 'warn' }),
  });
  informers.push(inf);
  inf.start();
  await inf.waitForSync();
  return inf
    .list()
    .map((o) => o.metadata!.name!)
    .sort();
}

describe('an informer’s list in pages', () => {
  it('reads every page of custom resources', async () => {
    const names = await listedBy(
      'lpo.dev/v1alpha1',
      'LicenseServerPair',
      `/apis/lpo.dev/v1alpha1/namespaces/${ns}/licenseserverpairs`,
    );
    expect(names).toEqual(Array.from({ length: COUNT }, (_, i) => `pair-${i}`));
  });

  it('reads every page of built-in kinds', async () => {
    const names = await listedBy('v1', 'ConfigMap', `/api/v1/namespaces/${ns}/configmaps`);
    expect(names).toEqual(expect.arrayContaining(Array.from({ length: COUNT }, (_, i) => `cm-${i}`)));
    // The namespace's own kube-root-ca.crt besides ours.
    expect(names.length).toBeGreaterThanOrEqual(COUNT);
  });
});
