import { writeFileSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readState, startApiserver, startEtcd } from '../cluster/control-plane.ts';
import { net as clusterNet } from '../cluster/config.ts';
import { stopProcess } from '../cluster/processes.ts';
import { createNamespace, deleteNamespace, eventually, kube, type Kube } from '../support/kube.ts';
import { kubectl } from '../support/kubectl.ts';
import {
  memberIPs,
  readPair,
  startOperatedLoopbackPair,
  type OperatedLoopbackPair,
  type MemberName,
} from '../support/members.ts';
import { ensureCrd, leaderElectionEnv, OperatorProcess } from '../support/operator.ts';
import { healAddresses, PartitionableProxy, partitionAddresses } from '../support/partition.ts';
import { preferMember } from '../chart/live-pair.ts';

// Faults of the platform rather than of the workload (docs/reliability.md states the promises):
// the API server stopped for 60 s, etcd restarted, the two members partitioned from each other,
// an operator replica partitioned from the API server while the other one takes the Lease.
// Members are real licence-server processes on loopback; a stand-in kubelet writes pod status.

const PAIR = 'eda';
const kubeconfigFile = inject('kubeconfig');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let k: Kube;
let ns: string;
let loopback: OperatedLoopbackPair;
let operator: OperatorProcess;

const pair = () => readPair(k, ns, PAIR);

async function roles(): Promise<Record<MemberName, { role: string; epoch: number } | undefined>> {
  const one = async (m: MemberName) => {
    try {
      const s = await loopback.members[m].status();
      return { role: s.role, epoch: s.epoch };
    } catch {
      return undefined;
    }
  };
  return { primary: await one('primary'), redundant: await one('redundant') };
}

/** Ready, both Healthy, the standby in sync; returns the status. */
async function settled(timeoutMs = 60_000) {
  return eventually(
    'the pair Running, both members Healthy, the standby in sync',
    async () => {
      const s = (await pair()).status;
      const cond = (t: string) => s?.conditions?.find((c) => c.type === t)?.status;
      return s?.phase === 'Running' &&
        cond('Ready') === 'True' &&
        cond('StandbyReady') === 'True' &&
        s.members?.primary?.health === 'Healthy' &&
        s.members.redundant?.health === 'Healthy'
        ? s
        : undefined;
    },
    timeoutMs,
    200,
  );
}

async function post(url: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(3000),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function checkout(member: MemberName, clientId: string): Promise<string> {
  const r = await post(`${loopback.members[member].clientUrl}/v1/checkout`, {
    feature: 'synth',
    clientId,
    user: clientId,
    host: 'faults-host',
  });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return (r.body.lease as { id: string }).id;
}

async function leaseIds(member: MemberName): Promise<string[]> {
  const res = await fetch(`${loopback.members[member].adminUrl}/v1/admin/leases`, {
    headers: { authorization: `Bearer ${loopback.fx.token}` },
  });
  const body = (await res.json()) as { leases: { id: string }[] };
  return body.leases.map((l) => l.id).sort();
}

beforeAll(async () => {
  k = kube();
  await ensureCrd(kubectl);
  ns = await createNamespace(k, 'faults');
  loopback = await startOperatedLoopbackPair(k, ns, PAIR, {
    healthCheck: { periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 2, successThreshold: 1 },
    failover: { failback: 'Manual', minSecondsBetweenFailovers: 1 },
  });
  ({ operator } = loopback);
  await settled();
});

afterAll(async () => {
  healAddresses();
  // A test that failed half-way must not leave the control plane down for the next file.
  const state = readState();
  if (state && !(await fetch(`http://127.0.0.1:${clusterNet.etcdClientPort}/health`).catch(() => undefined)))
    await startEtcd();
  if (state && (await apiserverDown())) await startApiserver(state);
  await loopback?.stop();
  await deleteNamespace(k, ns);
});

async function apiserverDown(): Promise<boolean> {
  try {
    await k.core.listNamespace({ limit: 1 });
    return false;
  } catch {
    return true;
  }
}

describe('faults of the platform', () => {
  it('the API server stopped for 60 s: nothing flips while the operator cannot write; it catches up after', async () => {
    const before = await settled();
    const live = before.liveMember as MemberName;
    const standby: MemberName = live === 'primary' ? 'redundant' : 'primary';
    const leases = [await checkout(live, 'api-down-1')];

    expect(await stopProcess('kube-apiserver')).toBe(true);
    const stoppedAt = Date.now();
    const samples: Awaited<ReturnType<typeof roles>>[] = [];
    try {
      // The licence service does not need the API server: the live member goes on serving.
      leases.push(await checkout(live, 'api-down-2'));
      // Half-way through, the live member hangs. Failing over needs the status written (the
      // intent) and the Service moved; the operator can do neither, so it must not promote the
      // standby either.
      await sleep(30_000);
      loopback.members[live].pause();
      while (Date.now() - stoppedAt < 60_000) {
        samples.push(await roles());
        await sleep(500);
      }
    } finally {
      await startApiserver(readState()!);
    }
    expect(samples.length).toBeGreaterThan(5);
    for (const s of samples) expect(s[standby]).toEqual({ role: 'standby', epoch: before.epoch });
    expect(operator.running, operator.tail()).toBe(true);

    // Watches recovered: the hung member is failed over to, exactly once.
    const after = await eventually(
      'the failover after the API server came back',
      async () => {
        const s = (await pair()).status;
        return s?.liveMember === standby ? s : undefined;
      },
      60_000,
      200,
    );
    expect(after.failoverCount).toBe((before.failoverCount ?? 0) + 1);
    expect((await roles())[standby]?.role).toBe('active');
    // No lease lost: what the clients were told they hold is on the new active.
    const onNew = await leaseIds(standby);
    for (const id of leases) expect(onNew).toContain(id);
    loopback.members[live].resume();
    // The old member steps down (fenced) and the pair is whole again with the same move count.
    preferMember(ns, PAIR, standby);
    const whole = await settled();
    expect(whole.failoverCount).toBe(after.failoverCount);
    await eventually('the old member stepped down', async () => (await roles())[live]?.role === 'standby');
  }, 240_000);

  it('etcd restarted: no flip from the restart itself, and the operator still acts afterwards', async () => {
    const before = await settled();
    const live = before.liveMember as MemberName;
    expect(await stopProcess('etcd')).toBe(true);
    try {
      await sleep(10_000);
    } finally {
      await startEtcd();
    }
    await eventually('the API server serving again', async () => !(await apiserverDown()), 60_000, 500);
    // Give the operator time to (wrongly) react to the errors it saw.
    await sleep(5_000);
    const same = await settled();
    expect(same.liveMember).toBe(live);
    expect(same.failoverCount).toBe(before.failoverCount);
    // It still acts: the live member's process dies, the standby takes over.
    await loopback.members[live].kill();
    await eventually(
      'a failover after the etcd restart',
      async () => (await pair()).status?.liveMember !== live,
      30_000,
      200,
    );
    await loopback.members[live].start();
    preferMember(ns, PAIR, live === 'primary' ? 'redundant' : 'primary');
    const whole = await settled();
    expect(whole.failoverCount).toBe((before.failoverCount ?? 0) + 1);
  });
  it('the two members partitioned from each other: no failover, no second active, no lease lost', async () => {
    const before = await settled();
    const live = before.liveMember as MemberName;
    const standby: MemberName = live === 'primary' ? 'redundant' : 'primary';
    const leases = [await checkout(live, 'partition-1')];
    partitionAddresses(memberIPs.primary, memberIPs.redundant);
    try {
      const started = Date.now();
      const samples: Awaited<ReturnType<typeof roles>>[] = [];
      let sawStandbyNotReady = false;
      while (Date.now() - started < 15_000) {
        samples.push(await roles());
        const s = (await pair()).status;
        if (s?.conditions?.find((c) => c.type === 'StandbyReady')?.status === 'False')
          sawStandbyNotReady = true;
        // Without its standby's acknowledgements the live member refuses (NO_QUORUM) until the
        // operator has marked the standby and granted it to serve alone; then it serves.
        if (samples.length === 4)
          leases.push(
            await eventually(
              'a checkout served alone',
              () => checkout(live, 'partition-2').catch(() => undefined),
              10_000,
              300,
            ),
          );
        await sleep(300);
      }
      for (const s of samples) {
        expect(s[live]?.role).toBe('active');
        expect(s[standby]?.role).toBe('standby');
      }
      // The operator sees the standby fall behind and says so, and moves nothing.
      expect(sawStandbyNotReady).toBe(true);
      const during = (await pair()).status!;
      expect(during.liveMember).toBe(live);
      expect(during.servingAlone?.member).toBe(live);
      expect(during.failoverCount).toBe(before.failoverCount);
    } finally {
      healAddresses();
    }
    // Healed: the standby catches up with every lease, the pair is whole, nothing moved.
    const whole = await settled();
    expect(whole.failoverCount).toBe(before.failoverCount);
    expect(whole.liveMember).toBe(live);
    await eventually('the standby has every lease', async () => {
      const ids = await leaseIds(standby);
      return leases.every((id) => ids.includes(id));
    });
  });
});

describe('an operator replica partitioned from the API server', () => {
  const LEASE = 'lpo-faults-leader';
  const replicas: OperatorProcess[] = [];
  let proxy: PartitionableProxy;
  let dir: string;

  afterAll(async () => {
    for (const r of replicas) await r.stop();
    await proxy?.stop();
  });

  it('stops writing (exits) before the other replica takes the Lease', async () => {
    // The single-replica operator above steps aside; two replicas with leader election take over.
    await operator.stop();
    const state = readState()!;
    const url = new URL(state.apiserverURL);
    proxy = new PartitionableProxy({ host: url.hostname, port: Number(url.port) });
    await proxy.start();
    dir = mkdtempSync(path.join(os.tmpdir(), 'lpo-partition-'));
    const proxied = path.join(dir, 'kubeconfig');
    writeFileSync(
      proxied,
      readFileSync(kubeconfigFile, 'utf8').replace(state.apiserverURL, `https://127.0.0.1:${proxy.port}`),
    );
    const env = (id: string) => leaderElectionEnv(ns, id, LEASE);
    const a = new OperatorProcess({ ...env('replica-a'), KUBECONFIG: proxied }, 'replica-a');
    await a.start();
    replicas.push(a);
    const holder = async () =>
      (await k.coordination.readNamespacedLease({ namespace: ns, name: LEASE })).spec ?? {};
    await eventually('replica-a leads', async () => (await holder()).holderIdentity === 'replica-a', 30_000);
    const b = new OperatorProcess(env('replica-b'), 'replica-b');
    await b.start();
    replicas.push(b);
    const before = await settled();

    proxy.partition();
    const cutAt = Date.now();
    const exitedAt = await eventually(
      'replica-a to give up and exit',
      async () => (a.running ? undefined : Date.now()),
      30_000,
      50,
    );
    const lease = await eventually(
      'replica-b to take the Lease',
      async () => {
        const spec = await holder();
        return spec.holderIdentity === 'replica-b' ? spec : undefined;
      },
      30_000,
      100,
    );
    const acquired = new Date(lease.acquireTime as unknown as string | Date).getTime();
    // The old leader was gone before the new one began: never two writers.
    expect(exitedAt).toBeLessThan(acquired);
    expect(exitedAt - cutAt).toBeLessThan(10_000);
    expect(a.tail()).toMatch(/lost leadership|leadership lost/);
    proxy.heal();
    // The new leader serves the pair: a fault is handled.
    const live = before.liveMember as MemberName;
    await loopback.members[live].kill();
    await eventually(
      'a failover by the new leader',
      async () => (await pair()).status?.liveMember !== live,
      30_000,
      200,
    );
    await loopback.members[live].start();
  });
});
