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
import { kubectl, kubectlFails } from '../support/kubectl.ts';
import {
  StandInKubelet,
  clientServiceMember,
  readPair,
  type ObservedPairStatus,
  createLoopbackPairObject,
  startLoopbackPair,
  type LoopbackMember,
  type LoopbackPair,
  type MemberName,
} from '../support/members.ts';
import { ensureCrd, OperatorProcess } from '../support/operator.ts';

// The operator against a real API server. There is no node: a stand-in kubelet writes pod status
// and the members are real licence-server processes on loopback addresses, so the operator's
// health checks, promotions and demotions are real HTTP calls.

const GROUP = { group: 'lpo.dev', version: 'v1alpha1', plural: 'licenseserverpairs' };
const PAIR = 'eda';
// Fast but realistic policy: checks every second, two failures to fail over.
const PERIOD = 1;
const THRESHOLD = 2;

let k: Kube;
let ns: string;
let loopback: LoopbackPair;
let kubelet: StandInKubelet;
let operator: OperatorProcess;
const members = {} as Record<MemberName, LoopbackMember>;

type PairStatus = ObservedPairStatus;

const pair = () => readPair(k, ns, PAIR);
const selector = () => clientServiceMember(k, ns, PAIR);

async function waitLive(member: string, timeoutMs = 20_000): Promise<PairStatus> {
  return eventually(
    `${member} live (Service selector and status)`,
    async () => {
      const p = await pair();
      return p.status?.liveMember === member && (await selector()) === member ? p.status : undefined;
    },
    timeoutMs,
    50,
  );
}

async function events(reason: string): Promise<k8s.CoreV1Event[]> {
  const list = await k.core.listNamespacedEvent({
    namespace: ns,
    fieldSelector: `involvedObject.name=${PAIR},reason=${reason}`,
  });
  return list.items;
}

beforeAll(async () => {
  k = kube();
  ensureCrd(kubectl);
  ns = await createNamespace(k, 'operator');
  loopback = await startLoopbackPair(k, ns, PAIR);
  Object.assign(members, loopback.members);
  kubelet = new StandInKubelet(k, ns);
  kubelet.start();
  operator = new OperatorProcess({ LEADER_ELECT: 'false', WATCH_NAMESPACE: ns });
  await operator.start();
  await createLoopbackPairObject(k, ns, PAIR, loopback.ports, {
    healthCheck: {
      periodSeconds: PERIOD,
      timeoutSeconds: 1,
      failureThreshold: THRESHOLD,
      successThreshold: 1,
    },
    failover: { failback: 'Automatic', failbackStableSeconds: 3, minSecondsBetweenFailovers: 1 },
  });
});

afterAll(async () => {
  await kubelet?.stop();
  await operator?.stop();
  await loopback?.stop();
  await deleteNamespace(k, ns);
});

describe('the operator on a real API server', () => {
  it('creates the children with owner references and serves the primary', async () => {
    const status = await waitLive('primary');
    expect(status.epoch).toBeGreaterThanOrEqual(1);
    const p = await pair();
    const uid = p.metadata.uid;
    const owned = (o: { metadata?: k8s.V1ObjectMeta }) =>
      o.metadata?.ownerReferences?.some((r) => r.uid === uid && r.controller) ?? false;
    const pods = await k.core.listNamespacedPod({ namespace: ns });
    expect(pods.items.map((x) => x.metadata?.name).sort()).toEqual([`${PAIR}-primary`, `${PAIR}-redundant`]);
    expect(pods.items.every(owned)).toBe(true);
    const svcs = await k.core.listNamespacedService({ namespace: ns });
    expect(svcs.items.map((x) => x.metadata?.name).sort()).toEqual([
      PAIR,
      `${PAIR}-primary`,
      `${PAIR}-redundant`,
    ]);
    expect(svcs.items.every(owned)).toBe(true);
    expect(owned(await k.policy.readNamespacedPodDisruptionBudget({ namespace: ns, name: PAIR }))).toBe(true);
    // The members really changed roles.
    await eventually(
      'primary active, redundant standby',
      async () =>
        (await members.primary.status()).role === 'active' &&
        (await members.redundant.status()).role === 'standby',
    );
    await eventually('Ready and StandbyReady', async () => {
      const s = (await pair()).status;
      const cond = (t: string) => s?.conditions?.find((c) => c.type === t)?.status;
      return cond('Ready') === 'True' && cond('StandbyReady') === 'True' && s?.phase === 'Running';
    });
    // kubectl get lsp shows what matters.
    const table = kubectl(['-n', ns, 'get', 'lsp', PAIR]);
    expect(table).toMatch(/LIVE\s+PRIMARY\s+REDUNDANT\s+PHASE\s+FAILOVERS/);
    expect(table).toMatch(new RegExp(`${PAIR}\\s+primary\\s+Healthy\\s+Healthy\\s+Running\\s+\\d+`));
  });

  it('writes nothing while nothing changes', async () => {
    const writes = async () => {
      const text = await operator.metrics();
      return text
        .split('\n')
        .filter((l) => l.startsWith('lpo_api_writes_total{'))
        .reduce((sum, l) => sum + Number(l.split(' ')[1]), 0);
    };
    // Let the steady state settle, then watch five health-check periods.
    await new Promise((r) => setTimeout(r, 2000));
    const before = await writes();
    await new Promise((r) => setTimeout(r, 5 * PERIOD * 1000));
    expect(await writes()).toBe(before);
  });

  it('fails over when the live member stops answering its health check, within period × threshold + 1 s', async () => {
    const before = (await pair()).status!;
    const started = Date.now();
    members.primary.pause();
    const status = await waitLive('redundant', 15_000);
    const elapsed = (Date.now() - started) / 1000;
    expect(elapsed).toBeLessThan(
      PERIOD * THRESHOLD + 1 + 1.5 /* one period of phase, scheduling on a busy 2-core machine */,
    );
    expect(status.failoverCount).toBe((before.failoverCount ?? 0) + 1);
    expect(status.lastFailover).toMatchObject({ from: 'primary', to: 'redundant' });
    expect(status.epoch).toBeGreaterThan(before.epoch ?? 0);
    expect((await members.redundant.status()).role).toBe('active');
    await eventually('one FailedOver Event', async () => (await events('FailedOver')).length === 1);
    await eventually(
      'the failover counted in the metrics',
      async () => (await operator.metricValue('lpo_failovers_total', { namespace: ns, pair: PAIR })) === 1,
    );
    // The gauge is set when the reconcile that moved the Service finishes.
    await eventually(
      'the live-member gauge on redundant',
      async () =>
        (await operator.metricValue('lpo_pair_live_member', {
          namespace: ns,
          pair: PAIR,
          member: 'redundant',
        })) === 1,
    );
  });

  it('brings the primary back as standby and fails back automatically once it is stable', async () => {
    members.primary.resume();
    // The returning primary had been active with an older epoch: it must step down, never serve.
    await eventually(
      'primary back as standby',
      async () => (await members.primary.status()).role === 'standby',
      15_000,
    );
    expect(await selector()).toBe('redundant');
    const status = await waitLive('primary', 20_000);
    expect(status.lastFailover).toMatchObject({ from: 'redundant', to: 'primary', reason: 'FailbackStable' });
    expect((await members.redundant.status()).role).toBe('standby');
    await eventually('one FailedBack Event', async () => (await events('FailedBack')).length === 1);
  });

  it('does not fail over when the standby is unhealthy, and reports Degraded', async () => {
    const before = (await pair()).status!;
    await members.redundant.kill();
    await eventually('Degraded', async () => (await pair()).status?.phase === 'Degraded', 15_000);
    expect(await selector()).toBe('primary');
    expect((await pair()).status?.failoverCount).toBe(before.failoverCount);
    await members.redundant.start();
    await eventually('Running again', async () => (await pair()).status?.phase === 'Running', 20_000);
  });

  it('fails over at once when the live pod is deleted', async () => {
    const before = (await pair()).status!;
    await eventually(
      'standby in sync',
      async () => (await members.redundant.status()).replication.state === 'in-sync',
      15_000,
    );
    const started = Date.now();
    await k.core.deleteNamespacedPod({ namespace: ns, name: `${PAIR}-primary` });
    const status = await waitLive('redundant', 10_000);
    // No health-check threshold to wait for: the deletion itself is the signal.
    expect((Date.now() - started) / 1000).toBeLessThan(PERIOD * THRESHOLD + 1);
    // The stand-in kubelet removes the pod at once; seen deleting while its member still answers,
    // it is handed over instead (planned-removal.test.ts holds it there).
    expect(['PodDeleted', 'LiveMemberLeaving']).toContain(status.lastFailover?.reason);
    expect(status.failoverCount).toBe((before.failoverCount ?? 0) + 1);
    // The pod is recreated and its member comes back as standby, then serves again (failback).
    await waitLive('primary', 30_000);
  });

  it('switches over on request (spec.preferredMember) and back', async () => {
    await k.custom.patchNamespacedCustomObject(
      { ...GROUP, namespace: ns, name: PAIR, body: { spec: { preferredMember: 'redundant' } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    const s = await waitLive('redundant', 20_000);
    expect(s.lastFailover?.reason).toMatch(/PreferredMemberChanged|SwitchoverRequested/);
    await k.custom.patchNamespacedCustomObject(
      { ...GROUP, namespace: ns, name: PAIR, body: { spec: { preferredMember: 'primary' } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await waitLive('primary', 20_000);
  });

  it('carries on after a restart without flipping the live member', async () => {
    const before = (await pair()).status!;
    await operator.kill('SIGKILL');
    await operator.start();
    await new Promise((r) => setTimeout(r, 4 * PERIOD * 1000));
    const after = (await pair()).status!;
    expect(after.liveMember).toBe(before.liveMember);
    expect(after.failoverCount).toBe(before.failoverCount);
    expect(after.epoch).toBe(before.epoch);
    expect(await selector()).toBe(before.liveMember);
  });

  it('completes a failover interrupted by an operator restart, exactly once', async () => {
    const before = (await pair()).status!;
    expect(before.liveMember).toBe('primary');
    members.primary.pause();
    // Detection is under way (one failed check of two) when the operator dies.
    await new Promise((r) => setTimeout(r, PERIOD * 1000 * 1.2));
    await operator.kill('SIGKILL');
    await operator.start();
    const status = await waitLive('redundant', 20_000);
    expect(status.failoverCount).toBe((before.failoverCount ?? 0) + 1);
    members.primary.resume();
    const back = await waitLive('primary', 30_000);
    // One failover and one failback: nothing flipped twice.
    expect(back.failoverCount).toBe((before.failoverCount ?? 0) + 2);
  });

  it('serves no member when both are down, then the first to recover', async () => {
    await members.primary.kill();
    await members.redundant.kill();
    await eventually(
      'Unavailable with no live member',
      async () => {
        const s = (await pair()).status;
        return s?.phase === 'Unavailable' && s.liveMember === '' && (await selector()) === 'none';
      },
      20_000,
    );
    await members.redundant.start();
    await waitLive('redundant', 20_000);
    await members.primary.start();
    await waitLive('primary', 30_000);
  });

  it('rejects invalid pairs with a clear message from the API server', () => {
    const bad = (spec: string) =>
      kubectlFails(
        ['-n', ns, 'apply', '-f', '-'],
        `apiVersion: lpo.dev/v1alpha1\nkind: LicenseServerPair\nmetadata: {name: bad}\nspec:\n${spec}\n`,
      );
    expect(
      bad('  server: {license: {secretName: x}}\n  healthCheck: {periodSeconds: 1, timeoutSeconds: 5}'),
    ).toMatch(/timeoutSeconds/);
    expect(bad('  server: {license: {secretName: x}}\n  failover: {failback: Sometimes}')).toMatch(
      /failback.*Unsupported value|supported values/i,
    );
    expect(bad('  server: {}')).toMatch(/license.*Required value|required/i);
    expect(bad('  server: {license: {secretName: x}, ports: {licences: 7070, admin: 7070}}')).toMatch(
      /must be different/,
    );
  });

  it('garbage-collects the children when the pair is deleted', async () => {
    await k.custom.deleteNamespacedCustomObject({ ...GROUP, namespace: ns, name: PAIR });
    await eventually(
      'children gone',
      async () => {
        const pods = await k.core.listNamespacedPod({ namespace: ns });
        const svcs = await k.core.listNamespacedService({ namespace: ns });
        try {
          await k.policy.readNamespacedPodDisruptionBudget({ namespace: ns, name: PAIR });
          return false;
        } catch (err) {
          return isNotFound(err) && pods.items.length === 0 && svcs.items.length === 0;
        }
      },
      60_000,
      250,
    );
  });
});
