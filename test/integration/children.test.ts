import type * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PairStatus } from '../../src/api/pair.ts';
import { Informer } from '../../src/kube/informer.ts';
import { childNames } from '../../src/operator/child-names.ts';
import { STATUS_WAIT_MS } from '../../src/operator/reconciler.ts';
import { createNamespace, deleteNamespace, eventually, kube, type Kube } from '../support/kube.ts';
import { kubectl } from '../support/kubectl.ts';
import {
  StandInKubelet,
  createLoopbackPairObject,
  readPair,
  startLoopbackPair,
  type LoopbackPair,
  type MemberName,
} from '../support/members.ts';
import { ensureCrd, freePort, OperatorProcess } from '../support/operator.ts';

// What a new pair costs and what it gets, against a real API server and kube-controller-manager:
// the status writes until it serves, a PodDisruptionBudget whose status the disruption controller
// can compute, headless member Services, and a member Service left by an older operator (with a
// cluster IP) replaced, no client Service before a ClusterIP pair has a live member, and a node
// drain that the budget lets take one member at a time. The members are real licence-server
// processes on loopback addresses.

const PAIR = 'kids';
let k: Kube;
let ns: string;
let loopback: LoopbackPair;
let kubelet: StandInKubelet;
let operator: OperatorProcess;
let pairs: Informer<k8s.KubernetesObject & { status?: Record<string, unknown> }>;
/** Every status the API server stored for the pair, in order (a watch sees each write). */
const statuses: string[] = [];
let oldServiceUid = '';

beforeAll(async () => {
  k = kube();
  ensureCrd(kubectl);
  ns = await createNamespace(k, 'children');
  pairs = new Informer({
    kc: k.kc,
    apiVersion: 'lpo.dev/v1alpha1',
    kind: 'LicenseServerPair',
    path: `/apis/lpo.dev/v1alpha1/namespaces/${ns}/licenseserverpairs`,
    namespace: ns,
    resyncMs: 3_600_000,
    log: pino({ level: 'warn' }),
  });
  const record = (p: { status?: unknown }) => {
    const s = JSON.stringify(p.status ?? null);
    if (statuses.at(-1) !== s) statuses.push(s);
  };
  pairs.on({ add: record, update: (_a, b) => record(b) });
  pairs.start();
  await pairs.waitForSync();
  loopback = await startLoopbackPair(k, ns, PAIR);
  kubelet = new StandInKubelet(k, ns);
  kubelet.start();
  await createLoopbackPairObject(k, ns, PAIR, loopback.ports, {
    healthCheck: { periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 2, successThreshold: 1 },
  });
  // An older operator's member Service, with a cluster IP: this one must replace it.
  const uid = (await readPair(k, ns, PAIR)).metadata.uid!;
  const old = await k.core.createNamespacedService({
    namespace: ns,
    body: {
      metadata: {
        name: `${PAIR}-redundant`,
        labels: {
          'app.kubernetes.io/managed-by': 'license-pair-operator',
          'lpo.dev/pair': PAIR,
          'lpo.dev/member': 'redundant',
        },
        annotations: { 'lpo.dev/applied-hash': 'older-operator' },
        ownerReferences: [
          { apiVersion: 'lpo.dev/v1alpha1', kind: 'LicenseServerPair', name: PAIR, uid, controller: true },
        ],
      },
      spec: {
        type: 'ClusterIP',
        selector: { 'lpo.dev/pair': PAIR, 'lpo.dev/member': 'redundant' },
        ports: [{ name: 'admin', port: loopback.ports.admin }],
      },
    },
  });
  oldServiceUid = old.metadata!.uid!;
  expect(old.spec?.clusterIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  operator = new OperatorProcess({ LEADER_ELECT: 'false', WATCH_NAMESPACE: ns });
  await operator.start();
});

afterAll(async () => {
  pairs?.stop();
  await kubelet?.stop();
  await operator?.stop();
  await loopback?.stop();
  await deleteNamespace(k, ns);
});

describe('a new pair’s children and status', () => {
  it('serves after few status writes, and the describing fields follow within the wait', async () => {
    // Judged on the statuses the watch delivered, not on a fresh read: a read can see the last
    // write before its watch event arrives, and the count below would then miss it.
    await eventually(
      'primary live and Running, both members healthy, roles reported',
      async () => {
        const s = JSON.parse(statuses.at(-1) ?? 'null') as PairStatus | null;
        return (
          s?.liveMember === 'primary' &&
          s.phase === 'Running' &&
          s.members?.['primary']?.health === 'Healthy' &&
          s.members?.['redundant']?.health === 'Healthy' &&
          s.members?.['primary']?.role === 'active' &&
          s.members?.['redundant']?.role === 'standby'
        );
      },
      20_000 + STATUS_WAIT_MS,
    );
    // Without the wait (status-urgency.ts) a new pair's status was written once for each step:
    // pods created, scheduled, addressed, checked, promoted, roles reported (five or more).
    // Bad news is written at once by design: on a loaded machine a check can time out (1 s) and
    // mark a member Unhealthy for a moment. Such writes are not the cost of the healthy path; the
    // bound is on the others (all statuses are in the message when it fails).
    const written = statuses.filter((s) => s !== 'null');
    const badNews = (text: string) => {
      const s = JSON.parse(text) as { phase?: string; members?: Record<string, { health?: string }> };
      const members = Object.values(s.members ?? {});
      return (
        s.phase === 'Degraded' || s.phase === 'Unavailable' || members.some((m) => m.health === 'Unhealthy')
      );
    };
    // At least one: the wait above ends on a delivered Running status with both members healthy.
    const healthyPath = written.filter((s) => !badNews(s));
    expect(healthyPath.length, written.join('\n')).toBeLessThanOrEqual(3);
  });

  it('gets a PodDisruptionBudget the disruption controller can compute', async () => {
    const pdb = await eventually('PDB status computed', async () => {
      const b = await k.policy.readNamespacedPodDisruptionBudget({ namespace: ns, name: PAIR });
      return b.status?.expectedPods === 2 ? b : undefined;
    });
    expect(pdb.spec?.minAvailable).toBe(1);
    expect(pdb.status?.desiredHealthy).toBe(1);
    const failed = await k.core.listNamespacedEvent({
      namespace: ns,
      fieldSelector: `involvedObject.name=${PAIR},reason=CalculateExpectedPodCountFailed`,
    });
    expect(failed.items).toEqual([]);
  });

  it('has headless member Services, and replaced the one an older operator left with a cluster IP', async () => {
    const svc = await eventually('the old member Service replaced', async () => {
      const s = await k.core.readNamespacedService({ namespace: ns, name: `${PAIR}-redundant` });
      return s.metadata?.uid !== oldServiceUid && s.spec?.clusterIP === 'None' ? s : undefined;
    });
    expect(svc.spec?.publishNotReadyAddresses).toBe(true);
    expect(svc.metadata?.ownerReferences?.[0]?.name).toBe(PAIR);
    const primary = await k.core.readNamespacedService({ namespace: ns, name: `${PAIR}-primary` });
    expect(primary.spec?.clusterIP).toBe('None');
    // The client Service is the one with a cluster IP, selecting the live member.
    const client = await k.core.readNamespacedService({ namespace: ns, name: PAIR });
    expect(client.spec?.clusterIP).not.toBe('None');
    expect(client.spec?.selector?.['lpo.dev/member']).toBe('primary');
  });

  it('makes a ClusterIP client Service only with the first live member', async () => {
    // Nothing listens on these ports: the members fail their checks and none is promoted.
    const ports = { licences: await freePort(), admin: await freePort(), metrics: await freePort() };
    await createLoopbackPairObject(k, ns, 'late', ports, {});
    const services = async () =>
      (await k.core.listNamespacedService({ namespace: ns, labelSelector: 'lpo.dev/pair=late' })).items
        .map((s) => s.metadata!.name!)
        .sort();
    await eventually('the member Services and a status of the pair without a live member', async () => {
      const s = (await readPair(k, ns, 'late')).status;
      return (await services()).length === 2 && s?.phase !== undefined && !s.liveMember;
    });
    // An absence: give a (wrong) client Service apply, which follows the status write, time to land.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await services()).toEqual(['late-primary', 'late-redundant']);
    expect((await readPair(k, ns, 'late')).status?.liveMember ?? '').toBe('');
  });

  it('lets a node drain evict one member at a time through its PDB, and the Service follows', async () => {
    const pod = (m: MemberName) => childNames(PAIR).pod[m];
    const evict = (m: MemberName) =>
      k.core.createNamespacedPodEviction({
        namespace: ns,
        name: pod(m),
        body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: pod(m), namespace: ns } },
      });
    const serving = async (m: MemberName) => {
      const [s, svc] = await Promise.all([
        readPair(k, ns, PAIR),
        k.core.readNamespacedService({ namespace: ns, name: PAIR }),
      ]);
      return s.status?.liveMember === m && svc.spec?.selector?.['lpo.dev/member'] === m;
    };
    await eventually('the primary serving, the budget allowing one eviction', async () => {
      const b = await k.policy.readNamespacedPodDisruptionBudget({ namespace: ns, name: PAIR });
      return (
        (await serving('primary')) && b.status?.currentHealthy === 2 && b.status.disruptionsAllowed === 1
      );
    });
    const primaryUid = (await k.core.readNamespacedPod({ namespace: ns, name: pod('primary') })).metadata!
      .uid;
    // With no kubelet the replacement pod never becomes Ready: the budget stays spent.
    await kubelet.stop();
    await evict('primary');
    await eventually('the redundant member serving', () => serving('redundant'));
    const replacement = await eventually('a replacement primary pod', async () => {
      const p = await k.core.readNamespacedPod({ namespace: ns, name: pod('primary') });
      return p.metadata?.uid !== primaryUid && !p.metadata?.deletionTimestamp ? p : undefined;
    });
    const refused = await evict('redundant').then(
      () => undefined,
      (err: { code?: number; body?: unknown }) => err,
    );
    expect(refused?.code, 'the last serving member was evicted').toBe(429);
    expect(JSON.stringify(refused?.body)).toMatch(/disruption budget/);
    expect(await serving('redundant')).toBe(true);
    // The replacement becomes Ready: the drain (which retries, as kubectl drain does) goes on.
    // The budget counts the pod's Ready condition; the operator hands over only to a member its
    // own check passed. Here the member processes outlive their pods, so evicting the redundant
    // pod before that check lets its own replacement (the same live process) win the race; wait
    // for the check, so the outcome does not depend on which replacement is checked first.
    kubelet.start();
    const created = new Date(replacement.metadata!.creationTimestamp!).getTime();
    await eventually('the operator’s check of the replacement primary passed', async () => {
      const m = (await readPair(k, ns, PAIR)).status?.members?.['primary'];
      return m?.health === 'Healthy' && Date.parse(m.lastProbeTime ?? '') >= created;
    });
    await eventually('the redundant pod evicted', async () => {
      await evict('redundant');
      return true;
    });
    await eventually('the primary serving again', () => serving('primary'));
  });
});
