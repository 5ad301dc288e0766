import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { metadataOnly, slimNode, slimPod, withoutManagedFields } from '../../../src/kube/slim.ts';
import { observeNode, observePod } from '../../../src/operator/observe-kube.ts';

const managedFields = [
  {
    manager: 'kubelet',
    operation: 'Update',
    fieldsType: 'FieldsV1',
    fieldsV1: { 'f:status': { 'f:conditions': { 'k:{"type":"Ready"}': { '.': {}, 'f:status': {} } } } },
  },
];

const pod: k8s.V1Pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'p-primary',
    namespace: 'ns',
    uid: 'u1',
    resourceVersion: '42',
    creationTimestamp: new Date('2026-01-01T00:00:00Z'),
    deletionTimestamp: new Date('2026-01-01T00:01:00Z'),
    deletionGracePeriodSeconds: 30,
    labels: { 'lpo.dev/pair': 'p', 'lpo.dev/member': 'primary' },
    annotations: { 'lpo.dev/spec-hash': 'abc' },
    ownerReferences: [{ apiVersion: 'lpo.dev/v1alpha1', kind: 'LicenseServerPair', name: 'p', uid: 'o1' }],
    managedFields,
  },
  spec: {
    nodeName: 'node-1',
    containers: [{ name: 'license-server', image: 'x', env: [{ name: 'A', value: 'B' }] }],
    volumes: [{ name: 'v', emptyDir: {} }],
  },
  status: {
    phase: 'Running',
    podIP: '10.0.0.5',
    podIPs: [{ ip: '10.0.0.5' }],
    hostIP: '10.250.0.1',
    conditions: [
      { type: 'Ready', status: 'False', lastTransitionTime: new Date('2026-01-01T00:00:30Z'), message: 'x' },
      { type: 'PodScheduled', status: 'True' },
    ],
    containerStatuses: [
      {
        name: 'license-server',
        ready: false,
        restartCount: 2,
        image: 'img',
        imageID: 'sha',
        state: { terminated: { exitCode: 137, finishedAt: new Date('2026-01-01T00:00:29Z') } },
        lastState: {},
      },
    ],
  },
};

describe('cache transforms', () => {
  it('keeps of a pod everything the failover decision observes, and drops the rest of its spec and managedFields', () => {
    const slim = slimPod(pod);
    expect(observePod(slim)).toEqual(observePod(pod));
    expect(observeNode(slim, undefined)).toEqual(observeNode(pod, undefined));
    expect(slim.metadata?.managedFields).toBeUndefined();
    expect(slim.spec?.containers).toEqual(
      pod.spec!.containers.map((c) => ({ name: c.name, image: c.image })),
    );
    expect(slim.spec?.volumes).toBeUndefined();
    expect(slim.status?.podIP).toBe('10.0.0.5');
    expect(slim.metadata?.annotations).toEqual({ 'lpo.dev/spec-hash': 'abc' });
    expect(slim.metadata?.labels).toEqual(pod.metadata?.labels);
  });

  it('keeps the scheduler’s word on an unschedulable pod, and the image (they name a cause)', () => {
    const unschedulable = structuredClone(pod);
    delete unschedulable.spec!.nodeName; // not bound yet
    unschedulable.status!.conditions = [
      { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes are available' },
    ];
    const slim = slimPod(unschedulable);
    expect(observePod(slim)).toEqual(observePod(unschedulable));
    expect(observePod(slim)).toMatchObject({ unschedulable: '0/1 nodes are available', image: 'x' });
  });

  it('keeps of a child its identity and annotations only', () => {
    const svc: k8s.V1Service = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 's',
        namespace: 'ns',
        uid: 'u2',
        annotations: {
          'lpo.dev/applied-hash': 'h',
          'kubectl.kubernetes.io/last-applied-configuration': '{"big":"object"}',
        },
        managedFields,
      },
      spec: { selector: { a: 'b' }, ports: [{ port: 1 }] },
    };
    expect(metadataOnly(svc)).toEqual({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 's', namespace: 'ns', uid: 'u2', annotations: { 'lpo.dev/applied-hash': 'h' } },
    });
  });

  it('keeps all of a pair but its managedFields', () => {
    const pair = {
      apiVersion: 'lpo.dev/v1alpha1',
      kind: 'LicenseServerPair',
      metadata: { name: 'p', namespace: 'ns', generation: 3, managedFields },
      spec: { a: 1 },
      status: { liveMember: 'primary' },
    };
    const slim = withoutManagedFields(pair);
    expect(slim).toEqual({ ...pair, metadata: { name: 'p', namespace: 'ns', generation: 3 } });
    expect(pair.metadata.managedFields).toBe(managedFields); // the input is not changed
  });

  it('keeps of a node its Ready condition', () => {
    const node: k8s.V1Node = {
      metadata: { name: 'n', managedFields },
      status: {
        conditions: [
          { type: 'MemoryPressure', status: 'False' },
          {
            type: 'Ready',
            status: 'False',
            lastTransitionTime: new Date('2026-01-01T00:00:00Z'),
            reason: 'KubeletDown',
          },
        ],
        images: [{ names: ['a'], sizeBytes: 1 }],
      },
    };
    const slim = slimNode(node);
    expect(observeNode(pod, slim)).toEqual(observeNode(pod, node));
    expect(observeNode(pod, slim)?.ready).toBe('False');
    expect(slim.status?.images).toBeUndefined();
  });
});
