import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNamespace, deleteNamespace, eventually, kube, type Kube } from '../support/kube.ts';
import { kubectl } from '../support/kubectl.ts';
import { ensureCrd, leaderElectionEnv, OperatorProcess } from '../support/operator.ts';

// Two operator replicas share a Lease (client-go's algorithm): exactly one leads and writes; when
// the leader is killed the other takes over within the lease duration and carries on.

const LEASE = 'lpo-test-leader';
let k: Kube;
let ns: string;
const replicas: OperatorProcess[] = [];

async function leaders(): Promise<OperatorProcess[]> {
  const out: OperatorProcess[] = [];
  for (const r of replicas) {
    if (r.running && (await r.metricValue('leader_election_master_status', { name: LEASE })) === 1)
      out.push(r);
  }
  return out;
}

beforeAll(async () => {
  k = kube();
  ensureCrd(kubectl);
  ns = await createNamespace(k, 'leader');
  for (const id of ['replica-a', 'replica-b']) {
    const r = new OperatorProcess(leaderElectionEnv(ns, id, LEASE), id);
    await r.start();
    replicas.push(r);
  }
});

afterAll(async () => {
  for (const r of replicas) await r.stop();
  await deleteNamespace(k, ns);
});

function pairManifest(name: string): string {
  return `apiVersion: lpo.dev/v1alpha1
kind: LicenseServerPair
metadata: {name: ${name}, namespace: ${ns}}
spec:
  server: {protocol: none, license: {secretName: none}}
`;
}

describe('leader election between two operator replicas', () => {
  it('elects exactly one leader, recorded in the Lease', async () => {
    const [leader] = await eventually(
      'one leader',
      async () => {
        const l = await leaders();
        return l.length === 1 ? l : undefined;
      },
      20_000,
    );
    const lease = await k.coordination.readNamespacedLease({ namespace: ns, name: LEASE });
    expect(lease.spec?.holderIdentity).toBe(leader === replicas[0] ? 'replica-a' : 'replica-b');
    // The follower stays ready (warm caches) but does not lead.
    for (const r of replicas) expect((await fetch(`http://127.0.0.1:${r.healthPort}/readyz`)).ok).toBe(true);
  });

  it('the leader reconciles; the follower writes nothing', async () => {
    kubectl(['apply', '-f', '-'], pairManifest('first'));
    await eventually(
      'pods of the first pair',
      async () =>
        (await k.core.listNamespacedPod({ namespace: ns, labelSelector: 'lpo.dev/pair=first' })).items
          .length === 2,
      20_000,
    );
    const [leader] = await leaders();
    const follower = replicas.find((r) => r !== leader)!;
    // Leadership did not move meanwhile (else the assertions below would not be about one leader).
    const lease = await k.coordination.readNamespacedLease({ namespace: ns, name: LEASE });
    expect(lease.spec?.leaseTransitions ?? 0).toBe(0);
    const writes = await follower.metrics();
    expect(writes).not.toMatch(/^lpo_api_writes_total\{/m);
    const leaderWrites = (await leader!.metrics())
      .split('\n')
      .filter((l) => l.startsWith('lpo_api_writes_total'));
    expect(leaderWrites, leaderWrites.join('; ')).toContain(
      `lpo_api_writes_total{verb="create",resource="Pod"} 2`,
    );
  });

  it('a killed leader is replaced within the lease duration, and the new leader carries on', async () => {
    const [old] = await leaders();
    const before = await k.coordination.readNamespacedLease({ namespace: ns, name: LEASE });
    const started = Date.now();
    await old!.kill('SIGKILL');
    const [successor] = await eventually(
      'a new leader',
      async () => {
        const l = await leaders();
        return l.length === 1 ? l : undefined;
      },
      20_000,
      100,
    );
    const seconds = (Date.now() - started) / 1000;
    console.log(`new leader after ${seconds.toFixed(1)} s (lease duration 8 s)`);
    expect(successor).not.toBe(old);
    // Lease duration + one retry period + a margin for a busy machine.
    expect(seconds).toBeLessThan(8 + 1 + 3);
    const after = await k.coordination.readNamespacedLease({ namespace: ns, name: LEASE });
    expect(after.spec?.leaseTransitions).toBe((before.spec?.leaseTransitions ?? 0) + 1);
    kubectl(['apply', '-f', '-'], pairManifest('second'));
    await eventually(
      'pods of the second pair',
      async () =>
        (await k.core.listNamespacedPod({ namespace: ns, labelSelector: 'lpo.dev/pair=second' })).items
          .length === 2,
      20_000,
    );
  });
});
