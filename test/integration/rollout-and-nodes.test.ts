import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNamespace, deleteNamespace, eventually, kube, type Kube } from '../support/kube.ts';
import { kubectl } from '../support/kubectl.ts';
import {
  StandInKubelet,
  clientServiceMember,
  readPair,
  createLoopbackPairObject,
  startLoopbackPair,
  type LoopbackMember,
  type LoopbackPair,
  type MemberName,
} from '../support/members.ts';
import { ensureCrd, OperatorProcess } from '../support/operator.ts';

// Signals from the platform and spec changes: each member's pod is bound to a node of its own
// (Node objects whose status the test writes, as their kubelets would); a node turning NotReady is
// acted on at once; a spec change is rolled out one member at a time, never with two live members.

const GROUP = { group: 'lpo.dev', version: 'v1alpha1', plural: 'licenseserverpairs' };
const PAIR = 'nodes';
const suffix = Math.random().toString(16).slice(2, 8);
const nodeOf: Record<MemberName, string> = { primary: `lpo-it-a-${suffix}`, redundant: `lpo-it-b-${suffix}` };

let k: Kube;
let ns: string;
let loopback: LoopbackPair;
let kubelet: StandInKubelet;
let operator: OperatorProcess;
const members = {} as Record<MemberName, LoopbackMember>;

async function setNodeReady(name: string, ready: boolean): Promise<void> {
  const now = new Date();
  await k.core.patchNodeStatus(
    {
      name,
      body: {
        status: {
          conditions: [
            {
              type: 'Ready',
              status: ready ? 'True' : 'False',
              reason: ready ? 'KubeletReady' : 'KubeletNotReady',
              lastHeartbeatTime: now,
              lastTransitionTime: now,
            },
          ],
        },
      },
    },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
  );
}

const status = async () => (await readPair(k, ns, PAIR)).status ?? {};
const selector = () => clientServiceMember(k, ns, PAIR);

beforeAll(async () => {
  k = kube();
  ensureCrd(kubectl);
  ns = await createNamespace(k, 'nodes');
  for (const n of Object.values(nodeOf)) {
    await k.core.createNode({ body: { metadata: { name: n, labels: { 'kubernetes.io/hostname': n } } } });
    await setNodeReady(n, true);
  }
  loopback = await startLoopbackPair(k, ns, PAIR);
  Object.assign(members, loopback.members);
  kubelet = new StandInKubelet(k, ns, nodeOf);
  kubelet.start();
  // Cluster-wide (no WATCH_NAMESPACE): node signals need the Node informer.
  operator = new OperatorProcess({ LEADER_ELECT: 'false' });
  await operator.start();
  await createLoopbackPairObject(k, ns, PAIR, loopback.ports, {
    // A slow health check: only the node signal can explain a fast failover.
    healthCheck: { periodSeconds: 10, timeoutSeconds: 1, failureThreshold: 3, successThreshold: 1 },
    failover: { failback: 'Automatic', failbackStableSeconds: 2, minSecondsBetweenFailovers: 1 },
  });
  // Both members checked: a failover needs a standby that passed its health check (the primary
  // can be promoted before the redundant's first check).
  await eventually(
    'primary live, redundant healthy',
    async () => {
      const s = await status();
      return (
        s.liveMember === 'primary' &&
        s.members?.['redundant']?.health === 'Healthy' &&
        (await selector()) === 'primary'
      );
    },
    30_000,
  );
});

afterAll(async () => {
  await kubelet?.stop();
  await operator?.stop();
  await loopback?.stop();
  await deleteNamespace(k, ns);
  for (const n of Object.values(nodeOf)) await k.core.deleteNode({ name: n }).catch(() => undefined);
});

describe('platform signals and rollouts', () => {
  it('fails over at once when the live member’s node goes NotReady, and back when it is Ready', async () => {
    const started = Date.now();
    await setNodeReady(nodeOf.primary, false);
    await eventually(
      'redundant live',
      async () => (await status()).liveMember === 'redundant' && (await selector()) === 'redundant',
      8_000,
      50,
    );
    // Well inside one 10 s health-check period: the node condition was the signal.
    expect((Date.now() - started) / 1000).toBeLessThan(5);
    expect((await status()).lastFailover?.reason).toBe('NodeNotReady');
    await setNodeReady(nodeOf.primary, true);
    await eventually(
      'failback to primary',
      async () => (await status()).liveMember === 'primary' && (await selector()) === 'primary',
      40_000,
    );
  });

  it('rolls a spec change out one member at a time, never with two live members', async () => {
    await eventually('Running', async () => (await status()).phase === 'Running', 30_000);
    const uids = async () =>
      Object.fromEntries(
        (await k.core.listNamespacedPod({ namespace: ns })).items.map((p) => [
          p.metadata!.labels!['lpo.dev/member'],
          p.metadata!.uid,
        ]),
      );
    const before = await uids();
    const epochBefore = (await status()).epoch ?? 0;
    const samples: { selector?: string; active: number }[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const roles = await Promise.all([members.primary.status(), members.redundant.status()]).catch(
          () => undefined,
        );
        samples.push({
          selector: await selector().catch(() => undefined),
          active: roles ? roles.filter((r) => r.role === 'active').length : -1,
        });
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await k.custom.patchNamespacedCustomObject(
      {
        ...GROUP,
        namespace: ns,
        name: PAIR,
        body: { spec: { server: { env: [{ name: 'ROLLOUT', value: '2' }] } } },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    // Both pods replaced, and the pair serves from its preferred member again.
    await eventually(
      'both members replaced and primary live',
      async () => {
        const now = await uids();
        return (
          now.primary &&
          now.redundant &&
          now.primary !== before.primary &&
          now.redundant !== before.redundant &&
          (await status()).liveMember === 'primary' &&
          (await status()).phase === 'Running'
        );
      },
      90_000,
      250,
    );
    sampling = false;
    await sampler;
    // The sampler really ran through the rollout (a rollout takes a second or more: 50 ms steps).
    expect(samples.length).toBeGreaterThan(5);
    expect(samples.every((s) => s.active <= 1)).toBe(true);
    expect(
      samples.every((s) => s.selector === 'primary' || s.selector === 'redundant' || s.selector === 'none'),
    ).toBe(true);
    // Two moves and no more: over to the member on the new spec, and back once the preferred
    // member's pod is replaced (never back to its old pod, about to be deleted).
    expect((await status()).epoch).toBe(epochBefore + 2);
    const pods = (await k.core.listNamespacedPod({ namespace: ns })).items;
    expect(
      pods.every((p) => p.spec?.containers[0]?.env?.some((e) => e.name === 'ROLLOUT' && e.value === '2')),
    ).toBe(true);
  });
});
