// A planned removal of a member's pod (a drain, an eviction, a rollout): its deletionTimestamp is
// set while its container still runs (on a node, the preStop sleep holds it). Here a finalizer
// holds the pod in that state while its member, a real licence-server process on loopback, runs
// on; killing the process plays the end of the sleep. What the operator must do
// (docs/reliability.md, "Planned removal of a member"):
//   - the standby leaving: mark status.servingAlone and grant the live member at once, so that it
//     holds a grant before the standby's promise lapses (it never goes without a right);
//   - the live member leaving while it answers: hand over as a switchover (demote it first, then
//     promote the standby), not a failover.
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNamespace, deleteNamespace, eventually, kube, type Kube } from '../support/kube.ts';
import { kubectl } from '../support/kubectl.ts';
import {
  clientServiceMember,
  readPair,
  startOperatedLoopbackPair,
  type MemberName,
  type OperatedLoopbackPair,
} from '../support/members.ts';
import { ensureCrd } from '../support/operator.ts';

const PAIR = 'leave';
const HOLD = 'lpo.dev/test-hold';

let k: Kube;
let ns: string;
let pair: OperatedLoopbackPair;

const status = async () => (await readPair(k, ns, PAIR)).status;
const podName = (m: MemberName) => `${PAIR}-${m}`;

type Sample = { at: number; role?: string; epoch?: number; right?: string };

/** The member's own view of its role and serving right (undefined fields: it did not answer). */
async function sample(m: MemberName): Promise<Sample> {
  try {
    const r = await fetch(`${pair.members[m].adminUrl}/v1/status`, {
      headers: { authorization: `Bearer ${pair.fx.token}` },
      signal: AbortSignal.timeout(500),
    });
    const s = (await r.json()) as { role: string; epoch: number; serving?: { right: string } };
    return { at: Date.now(), role: s.role, epoch: s.epoch, ...(s.serving ? { right: s.serving.right } : {}) };
  } catch {
    return { at: Date.now() };
  }
}

/** Samples both members every 50 ms until stopped. */
function sampler(): { stop: () => Promise<Record<MemberName, Sample[]>> } {
  const out: Record<MemberName, Sample[]> = { primary: [], redundant: [] };
  let running = true;
  const loop = (async () => {
    while (running) {
      const [p, r] = await Promise.all([sample('primary'), sample('redundant')]);
      out.primary.push(p);
      out.redundant.push(r);
      await new Promise((res) => setTimeout(res, 50));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return out;
    },
  };
}

const granting = (s: Sample) => s.role === 'active' && (s.right === 'peer' || s.right === 'alone');

async function holdAndDelete(m: MemberName): Promise<void> {
  await k.core.patchNamespacedPod(
    { namespace: ns, name: podName(m), body: { metadata: { finalizers: [HOLD] } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
  await k.core.deleteNamespacedPod({ namespace: ns, name: podName(m) });
}

/** The pod's container is done (the preStop sleep ran out): the process exits, the pod goes. */
async function finishRemoval(m: MemberName): Promise<void> {
  await pair.members[m].kill();
  await k.core.patchNamespacedPod(
    { namespace: ns, name: podName(m), body: { metadata: { finalizers: null } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
  // The pod is recreated (a new UID); its member comes back as a standby and resyncs.
  await pair.members[m].start();
  await eventually(
    'the pair in sync again, not serving alone',
    async () =>
      (await status())?.servingAlone === undefined &&
      (await pair.members[m].status()).replication.state === 'in-sync',
    40_000,
  );
}

beforeAll(async () => {
  k = kube();
  ensureCrd(kubectl);
  ns = await createNamespace(k, 'planned-removal');
  pair = await startOperatedLoopbackPair(k, ns, PAIR, {
    healthCheck: { periodSeconds: 2, timeoutSeconds: 1, failureThreshold: 3, successThreshold: 1 },
    failover: { failback: 'Manual' },
  });
  await eventually(
    'primary live, redundant in sync',
    async () =>
      (await status())?.liveMember === 'primary' &&
      (await pair.members.redundant.status()).replication.state === 'in-sync',
    30_000,
  );
});

afterAll(async () => {
  // A held pod would keep the namespace from going away.
  for (const m of ['primary', 'redundant'] as const)
    await k.core
      .patchNamespacedPod(
        { namespace: ns, name: podName(m), body: { metadata: { finalizers: null } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      )
      .catch(() => undefined);
  await pair?.stop();
  await deleteNamespace(k, ns);
});

describe('a planned removal of a member pod', () => {
  it('the standby leaving: the live member is granted to serve alone at once and never goes without a right', async () => {
    const deletedAt = Date.now();
    const s = sampler();
    await holdAndDelete('redundant');
    const marked = await eventually(
      'servingAlone names the primary',
      async () => {
        const st = await status();
        return st?.servingAlone?.member === 'primary' ? st : undefined;
      },
      5000,
      20,
    );
    // At once, not a health-check period and a second without the standby later.
    expect(Date.now() - deletedAt).toBeLessThan(1000);
    expect(marked.conditions?.find((c) => c.type === 'ServingAlone')?.status).toBe('True');
    await eventually('the primary holds a grant', async () => (await sample('primary')).right === 'alone');
    // The standby's container ends; the primary's grant outlives the standby's last promise.
    await pair.members.redundant.kill();
    await new Promise((r) => setTimeout(r, 2500));
    const samples = await s.stop();
    const withoutRight = samples.primary.filter(
      (x) => x.at > deletedAt && x.role !== undefined && !granting(x),
    );
    expect(withoutRight).toEqual([]);
    expect((await status())?.liveMember).toBe('primary');
    expect(await clientServiceMember(k, ns, PAIR)).toBe('primary');
    await finishRemoval('redundant');
  });

  it('the live member leaving while it answers: handed over as a switchover, demoted before the standby is promoted', async () => {
    const before = (await status())!;
    await eventually(
      'standby in sync',
      async () => (await pair.members.redundant.status()).replication.state === 'in-sync',
      15_000,
    );
    const s = sampler();
    const deletedAt = Date.now();
    await holdAndDelete('primary');
    const after = await eventually(
      'redundant live',
      async () => {
        const st = await status();
        return st?.liveMember === 'redundant' && (await clientServiceMember(k, ns, PAIR)) === 'redundant'
          ? st
          : undefined;
      },
      10_000,
      20,
    );
    // A handover is no failover: no promise to wait out, well under the failover's figures.
    expect(Date.now() - deletedAt).toBeLessThan(2000);
    expect(after.lastFailover?.reason).toBe('LiveMemberLeaving');
    expect(after.failoverCount).toBe((before.failoverCount ?? 0) + 1);
    // The leaving member was demoted (it still runs): it follows the new active as a standby.
    await eventually(
      'the primary demoted',
      async () => (await pair.members.primary.status()).role === 'standby',
    );
    // The new active serves from its first moment (granted with the promotion: the leaving member
    // is not promotable any more), and while the leaving member still acknowledges.
    await eventually('the redundant member granting', async () => granting(await sample('redundant')));
    expect((await status())?.servingAlone?.member).toBe('redundant');
    await pair.members.primary.kill();
    await new Promise((r) => setTimeout(r, 2500));
    const samples = await s.stop();
    // Never two members granting; the new active never without a right once it granted.
    for (let i = 0; i < samples.primary.length; i++)
      expect(granting(samples.primary[i]!) && granting(samples.redundant[i]!), `sample ${i}`).toBe(false);
    const first = samples.redundant.findIndex(granting);
    expect(first).toBeGreaterThanOrEqual(0);
    const gaps = samples.redundant.slice(first).filter((x) => x.role !== undefined && !granting(x));
    expect(gaps).toEqual([]);
    await finishRemoval('primary');
  });
});
