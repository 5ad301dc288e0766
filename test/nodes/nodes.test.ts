import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl } from '../chart/lib.ts';
import { healPartition, partitionNode, powerOff, powerOn } from '../cluster/node-faults.ts';
import { nodeSpecByName, offFirstNode, operatorOnFirstNode } from '../cluster/node-spec.ts';
import { FailoverBed, kc, PAIR, sleep } from '../support/failover-bed.ts';
import { eventually } from '../support/kube.ts';
import { memberServerName } from '../support/pair-tls.ts';
import type { SideAttempt, SideClientConfig } from './side-client.ts';

// Node faults on three real nodes (test/nodes/global-setup.ts). The operator runs on lpo-node-1;
// the pair's members may run on lpo-node-2 and lpo-node-3 only (off lpo-node-1), so a node fault
// hits a member and never the operator. Every scenario checks the invariants of
// test/support/failover-bed.ts under the load client's checkouts and renewals.

const id = randomBytes(3).toString('hex');
const bed = new FailoverBed({
  ns: `nodes-${id}`,
  operatorNs: `lpo-nodes-${id}`,
  release: `lpo-nodes-${id}`,
  chartSets: [operatorOnFirstNode],
  appNodeSelector: { 'kubernetes.io/hostname': 'lpo-node-1' },
  observeFromOperatorPod: true,
  pairSpec: { placement: { affinity: offFirstNode } },
});

beforeAll(() => bed.start());
afterAll(() => bed.stop());

/** A licence client inside a node's network: it reaches what the node reaches, and nothing else. */
function sideClient(
  node: string,
  cfg: SideClientConfig,
): { attempts: SideAttempt[]; stop: () => Promise<void> } {
  const spec = nodeSpecByName(node);
  if (!spec?.netns) throw new Error(`${node} has no network namespace of its own`);
  const proc = spawn(
    'nsenter',
    [
      `--net=/run/netns/${spec.netns}`,
      '--',
      process.execPath,
      fileURLToPath(new URL('./side-client.ts', import.meta.url)),
      JSON.stringify(cfg),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const attempts: SideAttempt[] = [];
  createInterface({ input: proc.stdout }).on('line', (l) => attempts.push(JSON.parse(l) as SideAttempt));
  return {
    attempts,
    stop: async () => {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.stdin.end();
      await exited;
    },
  };
}

/**
 * After a drain both members share the node that was left: the standby's pod is deleted so that
 * the scheduler spreads it again (the operator recreates it; the live member is not touched).
 */
async function respread(): Promise<void> {
  const st = await bed.settled();
  const standby = st.liveMember === 'primary' ? 'redundant' : 'primary';
  const [live, other] = await Promise.all([bed.memberPod(st.liveMember!), bed.memberPod(standby)]);
  if (nodeOf(live) !== nodeOf(other)) return;
  kc(['delete', 'pod', other.name, '-n', bed.ns, '--wait=false']);
  await eventually(
    'the standby on another node than the live member',
    async () => {
      const p = await bed.memberPod(standby).catch(() => undefined);
      return p && p.uid !== other.uid && p.nodeName && p.nodeName !== nodeOf(live);
    },
    120_000,
  );
  await bed.settled();
}

function nodeOf(pod: { nodeName?: string }): string {
  if (!pod.nodeName) throw new Error('the member pod is not scheduled');
  return pod.nodeName;
}

describe('node faults on three real nodes', () => {
  it('places the primary and the redundant member on different nodes, in different zones', async () => {
    await bed.settled();
    const [primary, redundant] = await Promise.all([bed.memberPod('primary'), bed.memberPod('redundant')]);
    const nodes = [nodeOf(primary), nodeOf(redundant)];
    expect(new Set(nodes).size).toBe(2);
    expect(nodes.every((n) => n === 'lpo-node-2' || n === 'lpo-node-3')).toBe(true);
    const zones = nodes.map((n) =>
      kc(['get', 'node', n, '-o', 'jsonpath={.metadata.labels.topology\\.kubernetes\\.io/zone}']),
    );
    expect(new Set(zones).size).toBe(2);
  });

  it('the live member’s node is cut off from the control plane and the other nodes, clients on its side still reaching it', async () => {
    // The side client checks out `layout` (not the load's feature) straight at the isolated
    // member: a grant there once the other member may grant would be the split brain the serving
    // rules prevent.
    let side: ReturnType<typeof sideClient> | undefined;
    let cutAt = 0;
    let cutNode = '';
    await bed.failoverScenario('live member’s node partitioned', async (live, pod) => {
      cutNode = nodeOf(pod);
      side = sideClient(cutNode, {
        url: `https://${pod.ip}:7070`,
        feature: 'layout',
        ca: bed.tls.ca,
        servername: memberServerName(bed.ns, PAIR, live),
        host: 'lab-01',
      });
      await eventually(
        'the side client served before the cut',
        async () => side!.attempts.some((a) => a.status === 200),
        30_000,
      );
      partitionNode(cutNode);
      cutAt = Date.now();
      return async () => {
        // Keep the cut a while after the move, as a real partition lasts: the isolated member
        // must keep refusing.
        await sleep(5000);
        healPartition(cutNode);
        await side!.stop();
      };
    });
    const st = await bed.pairStatus();
    const movedAt = Date.parse(st.lastFailover?.time ?? '');
    expect(movedAt).toBeGreaterThan(cutAt - 1000);
    const grantsAfterMove = side!.attempts.filter((a) => a.status === 200 && a.at > movedAt);
    expect(grantsAfterMove, 'grants by the isolated member after the other one took over').toEqual([]);
    expect(side!.attempts.filter((a) => a.at > cutAt && a.code === 'NO_QUORUM').length).toBeGreaterThan(0);
  });

  it('the live member’s node loses power and comes back: failover, leases kept, no move back (failback Manual)', async () => {
    let lostNode = '';
    let backAt = 0;
    await bed.failoverScenario('live member’s node lost power', async (_live, pod) => {
      lostNode = nodeOf(pod);
      await powerOff(lostNode);
      return async () => {
        await sleep(5000);
        await powerOn(lostNode);
        backAt = Date.now();
      };
    });
    // The member on the returned node runs again (the kubelet restarted its pod) as the standby.
    const st = await bed.settled();
    const standby = st.liveMember === 'primary' ? 'redundant' : 'primary';
    const pod = await bed.memberPod(standby);
    expect(nodeOf(pod)).toBe(lostNode);
    expect(backAt).toBeGreaterThan(0);
  });

  it('kubectl drain moves the members through the PodDisruptionBudget and the pair keeps serving', async () => {
    const st = await bed.settled();
    await bed.spacedFromLastMove(st);
    const live = st.liveMember!;
    const standby = live === 'primary' ? 'redundant' : 'primary';
    const standbyNode = nodeOf(await bed.memberPod(standby));
    const began = Date.now();
    // The standby's node first: nothing the clients use moves.
    const drain = kubectl(
      ['drain', standbyNode, '--ignore-daemonsets', '--delete-emptydir-data', '--timeout=180s'],
      { timeoutMs: 200_000 },
    );
    try {
      expect(drain.status, drain.stderr).toBe(0);
      const after = await bed.checkAfter('standby’s node drained', began, st.failoverCount ?? 0, 0);
      expect(after.liveMember).toBe(live);
      const moved = await bed.memberPod(standby);
      expect(nodeOf(moved)).not.toBe(standbyNode);
    } finally {
      kubectl(['uncordon', standbyNode]);
    }
    await respread();
  });

  it('kubectl drain of the live member’s node: the other member takes over, the clients keep their leases', async () => {
    let drained = '';
    await bed.failoverScenario('live member’s node drained', async (_live, pod) => {
      drained = nodeOf(pod);
      const drain = kubectl(
        ['drain', drained, '--ignore-daemonsets', '--delete-emptydir-data', '--timeout=180s'],
        { timeoutMs: 200_000 },
      );
      expect(drain.status, drain.stderr).toBe(0);
      return async () => {
        kubectl(['uncordon', drained]);
      };
    });
    await respread();
  });
});
