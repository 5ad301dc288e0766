import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNamespace, deleteNamespace, eventually, kube, type Kube } from '../support/kube.ts';
import { kubectl } from '../support/kubectl.ts';
import { readPair, startOperatedLoopbackPair, type OperatedLoopbackPair } from '../support/members.ts';
import { OPERATOR_COMPONENT } from '../../src/operator/controller.ts';
import { ensureCrd } from '../support/operator.ts';

// A restarted (or newly elected) operator carries on where the last one stopped: a healthy pair
// keeps its live member and phase, and the new operator writes nothing while its own health
// checks catch up (at a thousand pairs, a phase flap per pair on every restart would be thousands
// of writes and Warning Events).

const PAIR = 'restart';
let k: Kube;
let ns: string;
let loopback: OperatedLoopbackPair;

beforeAll(async () => {
  k = kube();
  await ensureCrd(kubectl);
  ns = await createNamespace(k, 'restart');
  loopback = await startOperatedLoopbackPair(k, ns, PAIR, {
    healthCheck: { periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 2, successThreshold: 2 },
    failover: { failback: 'Manual', minSecondsBetweenFailovers: 1 },
  });
});

afterAll(async () => {
  await loopback?.stop();
  if (ns) await deleteNamespace(k, ns);
});

/**
 * The operator's Warnings on the pair. Kubernetes' own controllers warn in this bed too (the
 * endpoint-slice controller refuses the loopback addresses of the stand-in pods, and retries with
 * a new Event now and then): those say nothing about the operator's restart.
 */
async function warnings(): Promise<string[]> {
  const list = await k.core.listNamespacedEvent({ namespace: ns });
  return list.items
    .filter((e) => e.type === 'Warning' && e.source?.component === OPERATOR_COMPONENT)
    .map((e) => `${e.reason}: ${e.message}`);
}

describe('an operator restart', () => {
  it('changes nothing on a healthy pair: same live member and phase, no status write, no Warning', async () => {
    await eventually(
      'the pair Running with a healthy standby',
      async () => {
        const st = (await readPair(k, ns, PAIR)).status;
        return st?.phase === 'Running' && st.members?.['redundant']?.health === 'Healthy';
      },
      60_000,
    );
    // Let the status settle (the last probe-result changes written), then restart.
    await new Promise((r) => setTimeout(r, 3000));
    const before = await readPair(k, ns, PAIR);
    const warningsBefore = await warnings();
    await loopback.operator.stop();
    await loopback.operator.start();

    // Several check periods: long enough for the new operator to reconcile, probe and settle.
    const seen = new Set<string>();
    const end = Date.now() + 6000;
    while (Date.now() < end) {
      const p = await readPair(k, ns, PAIR);
      seen.add(`${p.status?.liveMember}/${p.status?.phase}/${p.metadata?.resourceVersion}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const after = await readPair(k, ns, PAIR);
    expect([...seen]).toEqual([`${before.status?.liveMember}/Running/${before.metadata?.resourceVersion}`]);
    expect(after.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
    expect(await warnings()).toEqual(warningsBefore);
    // The new operator did reconcile the pair (it is not just idle).
    const metrics = await loopback.operator.metrics();
    expect(metrics).toMatch(
      /controller_runtime_reconcile_total\{controller="licenseserverpair",result="success"\} [1-9]/,
    );
  });
});
