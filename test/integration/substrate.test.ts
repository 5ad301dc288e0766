import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createNamespace,
  deleteNamespace,
  eventually,
  isNotFound,
  kube,
  type Kube,
} from '../support/kube.ts';

// Proves the local control plane is the real thing: watches deliver events, the garbage collector
// of kube-controller-manager removes owned objects, and the EndpointSlice controller follows a
// Service's selector and pod readiness.

let k: Kube;
let ns: string;
const nodeName = `substrate-node-${Math.random().toString(16).slice(2, 8)}`;

beforeAll(async () => {
  k = kube();
  ns = await createNamespace(k, 'substrate');
  await k.core.createNode({ body: { metadata: { name: nodeName }, spec: { unschedulable: true } } });
});

afterAll(async () => {
  await deleteNamespace(k, ns);
  await k.core.deleteNode({ name: nodeName }).catch(() => undefined);
});

describe('the local control plane', () => {
  it('reports its build version from the pinned source', async () => {
    const version = await k.kc.makeApiClient(k8s.VersionApi).getCode();
    expect(version.gitVersion).toMatch(/^v1\.\d+\.\d+$/);
    expect(Number(version.minor)).toBeGreaterThanOrEqual(30);
  });

  it('delivers watch events for objects created, changed and deleted', async () => {
    const events: string[] = [];
    const watch = new k8s.Watch(k.kc);
    const req = await watch.watch(
      `/api/v1/namespaces/${ns}/configmaps`,
      {},
      (type: string, obj: k8s.V1ConfigMap) => {
        if (obj.metadata?.name === 'watched') events.push(`${type}:${obj.data?.v ?? ''}`);
      },
      () => undefined,
    );
    try {
      await k.core.createNamespacedConfigMap({
        namespace: ns,
        body: { metadata: { name: 'watched' }, data: { v: '1' } },
      });
      await k.core.patchNamespacedConfigMap(
        { namespace: ns, name: 'watched', body: { data: { v: '2' } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
      await k.core.deleteNamespacedConfigMap({ namespace: ns, name: 'watched' });
      await eventually('three watch events', async () => events.length >= 3);
      expect(events).toEqual(['ADDED:1', 'MODIFIED:2', 'DELETED:2']);
    } finally {
      req.abort();
    }
  });

  it('garbage-collects children whose owner is deleted', async () => {
    const owner = await k.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'owner' } },
    });
    await k.core.createNamespacedConfigMap({
      namespace: ns,
      body: {
        metadata: {
          name: 'child',
          ownerReferences: [
            {
              apiVersion: 'v1',
              kind: 'ConfigMap',
              name: 'owner',
              uid: owner.metadata!.uid!,
              controller: true,
            },
          ],
        },
      },
    });
    await k.core.deleteNamespacedConfigMap({ namespace: ns, name: 'owner', propagationPolicy: 'Background' });
    await eventually(
      'the child to be garbage-collected',
      async () => {
        try {
          await k.core.readNamespacedConfigMap({ namespace: ns, name: 'child' });
          return false;
        } catch (err) {
          return isNotFound(err);
        }
      },
      60_000,
    );
  });

  it('keeps a Service EndpointSlice in step with its selector and pod readiness', async () => {
    const pod = (name: string, role: string, ip: string) => ({ name, role, ip });
    const pods = [pod('member-a', 'primary', '10.244.7.10'), pod('member-b', 'redundant', '10.244.7.11')];
    for (const p of pods) {
      await k.core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name: p.name, labels: { app: 'substrate', member: p.role } },
          spec: { nodeName, containers: [{ name: 'c', image: 'example.invalid/none:1' }] },
        },
      });
      // Play the kubelet: the pod runs, has an IP and is Ready.
      await k.core.patchNamespacedPodStatus(
        {
          namespace: ns,
          name: p.name,
          body: {
            status: {
              phase: 'Running',
              podIP: p.ip,
              podIPs: [{ ip: p.ip }],
              conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: new Date() }],
            },
          },
        },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
      );
    }
    await k.core.createNamespacedService({
      namespace: ns,
      body: {
        metadata: { name: 'live' },
        spec: { selector: { app: 'substrate', member: 'primary' }, ports: [{ port: 7070 }] },
      },
    });
    const readyAddresses = async () => {
      const slices = await k.discovery.listNamespacedEndpointSlice({
        namespace: ns,
        labelSelector: 'kubernetes.io/service-name=live',
      });
      return slices.items
        .flatMap((s) => s.endpoints ?? [])
        .filter((e) => e.conditions?.ready)
        .flatMap((e) => e.addresses)
        .sort();
    };
    await eventually(
      'the primary in the EndpointSlice',
      async () => JSON.stringify(await readyAddresses()) === '["10.244.7.10"]',
    );

    // The selector moves to the other member: the slice follows.
    await k.core.patchNamespacedService(
      {
        namespace: ns,
        name: 'live',
        body: { spec: { selector: { app: 'substrate', member: 'redundant' } } },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await eventually(
      'the redundant member in the EndpointSlice',
      async () => JSON.stringify(await readyAddresses()) === '["10.244.7.11"]',
    );

    // The pod stops being Ready: it leaves the ready endpoints.
    await k.core.patchNamespacedPodStatus(
      {
        namespace: ns,
        name: 'member-b',
        body: {
          status: { conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: new Date() }] },
        },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
    );
    await eventually('no ready endpoint', async () => (await readyAddresses()).length === 0);

    // A label change brings another pod under the selector.
    await k.core.patchNamespacedPod(
      { namespace: ns, name: 'member-a', body: { metadata: { labels: { member: 'redundant' } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await eventually(
      'the relabelled pod in the EndpointSlice',
      async () => JSON.stringify(await readyAddresses()) === '["10.244.7.10"]',
    );
  });
});
