import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { preferMember } from '../chart/live-pair.ts';
import { containerHostPid, killContainer } from '../cluster/node.ts';
import { FailoverBed, hangProcess, kc, PAIR, sleep } from '../support/failover-bed.ts';
import { requestOnNewConnection } from '../support/http.ts';
import { eventually } from '../support/kube.ts';
import { memberServerName } from '../support/pair-tls.ts';
import { must } from '../chart/lib.ts';

// Failover under load on the real node: each scenario injects one fault and checks the invariants
// of test/support/failover-bed.ts (no lease lost or doubled, never more seats than licensed, one
// endpoint, one member active and granting, exactly the moves expected).

const id = randomBytes(3).toString('hex');
const bed = new FailoverBed({
  ns: `e2e-failover-${id}`,
  operatorNs: `lpo-e2e-fo-${id}`,
  release: `lpo-fo-${id}`,
});
const ns = bed.ns;
const operatorNs = bed.o.operatorNs;

beforeAll(() => bed.start());
afterAll(() => bed.stop());

describe('failover under load on a real node', () => {
  it('the live container is killed', async () => {
    await bed.failoverScenario('live container killed', async (_live, pod) => {
      killContainer(pod.containerId!);
      return () => undefined;
    });
  });

  it('the live pod is deleted', async () => {
    await bed.failoverScenario('live pod deleted', async (_live, pod) => {
      kc(['delete', 'pod', pod.name, '-n', ns, '--wait=false']);
      return () => undefined;
    });
  });

  it('the live process hangs (stops answering but stays up)', async () => {
    await bed.failoverScenario('live process hung', async (_live, pod) => hangProcess(pod));
  });

  it('the live pod is cut off from its peer and the operator, clients on its side still reaching it', async () => {
    // Clients on the isolated side talk to the pod directly (the load client follows the Service)
    // and check out the `layout` feature (not the load's): a grant there once the other member
    // may grant would be the split brain the serving rules prevent.
    const isolatedGrants: number[] = [];
    let isolatedRefusals = 0;
    let cutAt = 0;
    await bed.failoverScenario('live pod partitioned', async (live, pod) => {
      const peer = await bed.memberPod(live === 'primary' ? 'redundant' : 'primary');
      const operators = await bed.core.listNamespacedPod({ namespace: operatorNs });
      const cut = [
        peer.ip!,
        ...operators.items.map((p) => p.status?.podIP).filter((ip): ip is string => !!ip),
      ];
      const pid = containerHostPid(pod.containerId!);
      const inPod = (args: string[]) => must('nsenter', ['-t', String(pid), '-n', 'iptables', '-w', ...args]);
      for (const ip of cut) {
        inPod(['-I', 'INPUT', '-s', ip, '-j', 'DROP']);
        inPod(['-I', 'OUTPUT', '-d', ip, '-j', 'DROP']);
      }
      cutAt = Date.now();
      let stop = false;
      void (async () => {
        for (let i = 0; !stop; i++) {
          try {
            const r = await requestOnNewConnection(`https://${pod.ip}:7070/v1/checkout`, {
              json: { feature: 'layout', clientId: `isolated-${i}`, user: 'isolated', host: 'lab-01' },
              timeoutMs: 1500,
              tls: { ca: bed.tls.ca, servername: memberServerName(ns, PAIR, live) },
            });
            if (r.status === 200) isolatedGrants.push(Date.now());
            else if (r.body.includes('NO_QUORUM')) isolatedRefusals++;
          } catch {
            // the pod may not answer at all for a moment
          }
          await sleep(200);
        }
      })();
      return () => {
        stop = true;
        inPod(['-F', 'INPUT']);
        inPod(['-F', 'OUTPUT']);
      };
    });
    const st = await bed.pairStatus();
    const movedAt = Date.parse(st.lastFailover?.time ?? '');
    expect(movedAt).toBeGreaterThan(cutAt - 1000);
    // The isolated member stopped granting before the operator moved the pair (its peer right
    // lapses within a second of its standby's last acknowledgement; PeerLost needs a second of silence).
    expect(isolatedGrants.filter((t) => t > movedAt)).toEqual([]);
    expect(isolatedRefusals).toBeGreaterThan(0);
  });

  it('the operator leader is killed during a failover', async () => {
    await bed.failoverScenario('operator leader killed during a failover', async (_live, pod) => {
      const lease = await bed.coordination.readNamespacedLease({
        namespace: operatorNs,
        name: 'license-pair-operator-leader',
      });
      const leaderPod = await bed.core.readNamespacedPod({
        namespace: operatorNs,
        name: lease.spec!.holderIdentity!,
      });
      const leaderContainer = leaderPod.status!.containerStatuses![0]!.containerID!.replace(
        /^containerd:\/\//,
        '',
      );
      kc(['delete', 'pod', pod.name, '-n', ns, '--wait=false']);
      killContainer(leaderContainer);
      return () => undefined;
    });
  });

  it('the standby is killed and comes back: no move, the standby resyncs', async () => {
    const st = await bed.settled();
    const live = st.liveMember!;
    const standby = live === 'primary' ? 'redundant' : 'primary';
    const pod = await bed.memberPod(standby);
    const began = Date.now();
    killContainer(pod.containerId!);
    await eventually(
      'the standby container restarted',
      async () => {
        const p = await bed.core.readNamespacedPod({ namespace: ns, name: pod.name });
        return (p.status?.containerStatuses?.[0]?.restartCount ?? 0) > pod.restarts;
      },
      60_000,
    );
    const after = await bed.checkAfter('standby killed', began, st.failoverCount ?? 0, 0);
    expect(after.liveMember).toBe(live);
  });

  it('a planned switchover, then a failback', async () => {
    for (let i = 0; i < 2; i++) {
      const st = await bed.settled();
      await bed.spacedFromLastMove(st);
      const live = st.liveMember!;
      const to = live === 'primary' ? 'redundant' : 'primary';
      const began = Date.now();
      preferMember(ns, PAIR, to);
      expect(await bed.waitLive(live)).toBe(to);
      await bed.checkAfter(i === 0 ? 'switchover' : 'failback', began, st.failoverCount ?? 0, 1);
    }
  });
});
