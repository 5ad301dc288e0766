// Split-brain-proof serving (docs/reliability.md, "Serving rights") on real licence-server
// processes, a real API server and the operator, cut apart by packet filters on their loopback
// addresses. Clients on BOTH sides of each cut hold and churn leases, more clients than seats.
// Over every scenario:
//   - no lease a client was told it holds is lost (renewing it never answers LEASE_NOT_FOUND),
//   - the leases clients hold never exceed the seats licensed,
//   - no two members hold a serving right at once (each member's own /v1/status, sampled every
//     100 ms from an address no cut touches).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createNamespace, deleteNamespace, eventually, kube, type Kube } from '../support/kube.ts';
import { kubectl } from '../support/kubectl.ts';
import { requestOnNewConnection } from '../support/http.ts';
import {
  memberIPs,
  readPair,
  startOperatedLoopbackPair,
  type MemberName,
  type OperatedLoopbackPair,
} from '../support/members.ts';
import { ensureCrd, leaderElectionEnv, OperatorProcess } from '../support/operator.ts';
import { otherMember } from '../../src/api/pair.ts';
import { CUT_SIDES, healAddresses, partitionAddresses } from '../support/partition.ts';
import { ServingSampler } from '../support/serving-sampler.ts';

const PAIR = 'split';
const SEATS = 10;
const HOST = CUT_SIDES.host;
const ISOLATED_SIDE = CUT_SIDES.isolatedSide;
const SAMPLER = CUT_SIDES.sampler;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let k: Kube;
let ns: string;
let loopback: OperatedLoopbackPair;

const pair = () => readPair(k, ns, PAIR);

/** Both members' serving rights, from SAMPLER; stopped after the scenario, whatever happens in it. */
function newSampler(): ServingSampler {
  const sampler = new ServingSampler(loopback, SAMPLER);
  started.push(() => sampler.stop());
  return sampler;
}

/**
 * Clients that each hold one lease and renew it every 300 ms (now and then releasing it and
 * checking out again). `side: 'isolated'` clients talk to one member from ISOLATED_SIDE and follow
 * only its redirects; the others try both members from HOST, as clients behind the Service would.
 */
let runs = 0;
/** what a scenario started; stopped after each scenario, whatever happened in it */
const started: (() => void | Promise<void>)[] = [];

class Clients {
  readonly held = new Map<string, { leaseId: string; member: MemberName }>();
  readonly lost: {
    clientId: string;
    leaseId: string;
    code: string;
    member: MemberName;
    heldOn: MemberName;
    at: number;
  }[] = [];
  readonly ok: { at: number; member: MemberName; clientId: string }[] = [];
  readonly refused: Record<string, number> = {};
  maxHeld = 0;
  private timers: NodeJS.Timeout[] = [];
  private readonly target = new Map<string, MemberName>();
  private readonly releasing = new Set<string>();
  private readonly side: 'isolated' | 'host';
  private readonly count: number;
  private readonly all: Clients[];

  /** distinct client ids per scenario: a scenario's clients never renew another's leases */
  private readonly run = ++runs;

  constructor(side: 'isolated' | 'host', count: number, start: MemberName, all: Clients[]) {
    this.side = side;
    this.count = count;
    this.all = all;
    for (let i = 0; i < count; i++) this.target.set(this.id(i), start);
    all.push(this);
  }

  private id(i: number): string {
    return `${this.side}-${this.run}-${i}`;
  }

  start(): void {
    started.push(() => this.stop());
    for (let i = 0; i < this.count; i++) {
      let busy = false;
      this.timers.push(
        setInterval(() => {
          if (busy) return;
          busy = true;
          void this.tick(this.id(i)).finally(() => (busy = false));
        }, 300),
      );
    }
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
  }

  private async call(clientId: string, path: string, json: unknown) {
    const member = this.target.get(clientId)!;
    const r = await requestOnNewConnection(`${loopback.members[member].clientUrl}${path}`, {
      json,
      localAddress: this.side === 'isolated' ? ISOLATED_SIDE : HOST,
      timeoutMs: 1500,
    });
    return {
      member,
      status: r.status,
      body: JSON.parse(r.body) as { code?: string; active?: string; lease?: { id: string } },
    };
  }

  private async tick(clientId: string): Promise<void> {
    const held = this.held.get(clientId);
    try {
      // A release refused (NO_QUORUM, a timeout) may have been made: it is retried, and a
      // LEASE_NOT_FOUND then means it was (the client contract, as LicenseClient keeps it).
      if (held && (this.releasing.has(clientId) || Math.random() < 0.05)) {
        const retry = this.releasing.has(clientId);
        this.releasing.add(clientId);
        const r = await this.call(clientId, '/v1/release', { leaseId: held.leaseId, clientId });
        if (r.status === 200 || (retry && r.body.code === 'LEASE_NOT_FOUND')) {
          this.held.delete(clientId);
          this.releasing.delete(clientId);
        } else this.failed(clientId, r);
        return;
      }
      const r = held
        ? await this.call(clientId, '/v1/renew', { leaseId: held.leaseId, clientId })
        : await this.call(clientId, '/v1/checkout', {
            feature: 'synth',
            clientId,
            user: clientId,
            host: 'split',
          });
      if (r.status === 200 && r.body.lease) {
        this.held.set(clientId, { leaseId: r.body.lease.id, member: r.member });
        this.ok.push({ at: Date.now(), member: r.member, clientId });
        // A lease whose release was refused after it may have been made (NO_QUORUM, a timeout)
        // is not counted: the release may have reached the standby, so its seat may be another
        // client's by now (R4, an unknown outcome), until the retried release settles it.
        const total = this.all.reduce((n, c) => n + c.heldNotReleasing(), 0);
        if (total > this.maxHeld) this.maxHeld = total;
        return;
      }
      if (held && (r.body.code === 'LEASE_NOT_FOUND' || r.body.code === 'LEASE_EXPIRED')) {
        this.lost.push({
          clientId,
          leaseId: held.leaseId,
          code: r.body.code,
          member: r.member,
          heldOn: held.member,
          at: Date.now(),
        });
        this.held.delete(clientId);
      }
      this.failed(clientId, r);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      this.refused[code] = (this.refused[code] ?? 0) + 1;
      if (this.side === 'host') this.target.set(clientId, otherMember(this.target.get(clientId)!));
    }
  }

  private failed(
    clientId: string,
    r: { member: MemberName; body: { code?: string; active?: string } },
  ): void {
    const code = r.body.code ?? 'unknown';
    this.refused[code] = (this.refused[code] ?? 0) + 1;
    const to = (Object.keys(memberIPs) as MemberName[]).find(
      (m) => loopback.members[m].clientUrl === r.body.active,
    );
    if (code === 'NOT_ACTIVE' || code === 'NO_QUORUM') {
      if (to && to !== r.member) this.target.set(clientId, to);
      else if (this.side === 'host') this.target.set(clientId, otherMember(r.member));
    }
  }

  /** Leases held and not being released. */
  heldNotReleasing(): number {
    return [...this.held.keys()].filter((id) => !this.releasing.has(id)).length;
  }

  okAfter(t: number, member: MemberName): number {
    return this.ok.filter((o) => o.at > t && o.member === member).length;
  }
}

async function settled(timeoutMs = 60_000) {
  return eventually(
    'the pair serving with both members Healthy, the standby in sync, nobody serving alone',
    async () => {
      const s = (await pair()).status;
      const cond = (t: string) => s?.conditions?.find((c) => c.type === t)?.status;
      // failback is Manual here: a pair failed over is settled on its other member
      return (s?.phase === 'Running' || s?.phase === 'FailedOver') &&
        cond('Ready') === 'True' &&
        cond('StandbyReady') === 'True' &&
        cond('ServingAlone') === 'False' &&
        s.servingAlone === undefined
        ? s
        : undefined;
    },
    timeoutMs,
    200,
  );
}

/** Every lease a client holds is on the active member and renews there. */
async function everyHeldLeaseOnTheActive(clients: Clients[]): Promise<void> {
  const s = await settled();
  const active = s.liveMember as MemberName;
  const res = await fetch(`${loopback.members[active].adminUrl}/v1/admin/leases`, {
    headers: { authorization: `Bearer ${loopback.fx.token}` },
  });
  const ids = new Set(((await res.json()) as { leases: { id: string }[] }).leases.map((l) => l.id));
  for (const c of clients)
    for (const [clientId, h] of c.held) expect(ids.has(h.leaseId), clientId).toBe(true);
}

function invariants(sampler: ServingSampler, clients: Clients[]): void {
  expect(sampler.samples).toBeGreaterThan(20);
  expect(sampler.twoGranting).toEqual([]);
  for (const c of clients) expect(c.lost).toEqual([]);
  expect(Math.max(...clients.map((c) => c.maxHeld))).toBeLessThanOrEqual(SEATS);
}

beforeAll(async () => {
  k = kube();
  await ensureCrd(kubectl);
  ns = await createNamespace(k, 'split');
  loopback = await startOperatedLoopbackPair(k, ns, PAIR, {
    healthCheck: { periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 2, successThreshold: 1 },
    failover: { failback: 'Manual', minSecondsBetweenFailovers: 1 },
  });
  await settled();
});

/** Revokes every lease on the active member: each scenario starts with every seat free. */
async function revokeAll(): Promise<void> {
  const s = await settled();
  const active = loopback.members[s.liveMember as MemberName];
  const headers = { authorization: `Bearer ${loopback.fx.token}` };
  const res = await fetch(`${active.adminUrl}/v1/admin/leases`, { headers });
  const { leases } = (await res.json()) as { leases: { id: string }[] };
  for (const l of leases)
    await fetch(`${active.adminUrl}/v1/admin/leases/${encodeURIComponent(l.id)}`, {
      method: 'DELETE',
      headers,
    });
}

afterEach(async () => {
  healAddresses();
  for (const stop of started.splice(0).reverse()) await stop();
  // a scenario that failed half-way may have left the single operator stopped
  if (!loopback.operator.running) await loopback.operator.start();
  await revokeAll();
});

afterAll(async () => {
  healAddresses();
  await loopback?.stop();
  await deleteNamespace(k, ns);
});

describe('split-brain-proof serving', () => {
  it('the active cut off from its standby and the operator, clients on its side: it stops granting, the standby takes over, nothing is lost', async () => {
    const before = await settled();
    const live = before.liveMember as MemberName;
    const standby = otherMember(live);
    const all: Clients[] = [];
    const hostSide = new Clients('host', 6, live, all);
    const isolatedSide = new Clients('isolated', 6, live, all);
    const sampler = newSampler();
    sampler.start();
    hostSide.start();
    isolatedSide.start();
    try {
      await eventually(
        'every seat held (12 clients, 10 seats)',
        async () => hostSide.held.size + isolatedSide.held.size === SEATS,
        20_000,
      );
      partitionAddresses(memberIPs[live], memberIPs[standby]);
      partitionAddresses(memberIPs[live], HOST);
      const cutAt = Date.now();
      await eventually('the standby live', async () => (await pair()).status?.liveMember === standby, 20_000);
      await sleep(6000);
      const promotedAt = sampler.firstGranting.get(`${standby}@${(await pair()).status!.epoch}`)!;
      expect(promotedAt).toBeGreaterThan(cutAt);
      // The isolated member granted nothing once the standby could grant (in fact it stopped
      // within its peer right, about a second after the cut, before the standby was promoted).
      expect(isolatedSide.okAfter(promotedAt, live)).toBe(0);
      expect(isolatedSide.refused.NO_QUORUM ?? 0).toBeGreaterThan(0);
      expect(hostSide.okAfter(promotedAt, standby)).toBeGreaterThan(10);
    } finally {
      healAddresses();
    }
    // Healed: the old active rejoins as standby and resyncs; everyone is served by the new active.
    await eventually(
      'the old active a standby',
      async () => (await loopback.members[live].status()).role === 'standby',
      20_000,
    );
    await sleep(3000);
    hostSide.stop();
    isolatedSide.stop();
    sampler.stop();
    invariants(sampler, all);
    await everyHeldLeaseOnTheActive(all);
  });

  it('the members cut off from each other only: the active serves alone, the standby is never promoted, then resyncs', async () => {
    const before = await settled();
    const live = before.liveMember as MemberName;
    const standby = otherMember(live);
    const all: Clients[] = [];
    const clients = new Clients('host', 8, live, all);
    const sampler = newSampler();
    sampler.start();
    clients.start();
    let sawAlone = false;
    try {
      await sleep(2000);
      partitionAddresses(memberIPs[live], memberIPs[standby]);
      const cutAt = Date.now();
      await eventually(
        'the live member serving alone',
        async () => {
          const s = (await pair()).status;
          sawAlone =
            s?.servingAlone?.member === live &&
            s.conditions?.some((c) => c.type === 'ServingAlone' && c.status === 'True') === true;
          return sawAlone;
        },
        15_000,
      );
      await sleep(5000);
      const s = (await pair()).status!;
      expect(s.liveMember).toBe(live);
      expect(s.failoverCount).toBe(before.failoverCount);
      expect((await loopback.members[standby].status()).role).toBe('standby');
      // served alone after at most a few seconds without its standby
      expect(clients.okAfter(cutAt + 5000, live)).toBeGreaterThan(5);
    } finally {
      healAddresses();
    }
    const healedAt = Date.now();
    const whole = await settled(60_000);
    expect(whole.failoverCount).toBe(before.failoverCount);
    // The mark went once the operator ended its grants (R6), not after waiting them out.
    await eventually(
      'the servingAlone mark removed',
      async () => (await pair()).status?.servingAlone === undefined,
    );
    process.stdout.write(
      `resync after the members' link healed: promotable again after ${((Date.now() - healedAt) / 1000).toFixed(2)} s\n`,
    );
    expect(loopback.operator.tail(200_000)).toContain('solo grants ended: the standby has resynced');
    clients.stop();
    sampler.stop();
    expect(sawAlone).toBe(true);
    invariants(sampler, all);
    await everyHeldLeaseOnTheActive(all);
  });

  it('the operator cut off from the active only: the pair keeps serving, and moves at most once, safely', async () => {
    const before = await settled();
    const live = before.liveMember as MemberName;
    const all: Clients[] = [];
    const clients = new Clients('isolated', 8, live, all);
    const sampler = newSampler();
    sampler.start();
    clients.start();
    try {
      await sleep(2000);
      partitionAddresses(memberIPs[live], HOST);
      await sleep(10_000);
    } finally {
      healAddresses();
    }
    await settled();
    clients.stop();
    sampler.stop();
    const after = (await pair()).status!;
    expect((after.failoverCount ?? 0) - (before.failoverCount ?? 0)).toBeLessThanOrEqual(1);
    // the clients, which reach both members, were served throughout but for the move itself
    const okTimes = clients.ok.map((o) => o.at).sort((a, b) => a - b);
    const longestGap = Math.max(...okTimes.slice(1).map((t, i) => t - okTimes[i]!));
    expect(longestGap).toBeLessThan(5000);
    invariants(sampler, all);
    await everyHeldLeaseOnTheActive(all);
  });

  it('the operator down while the members are fine: the pair keeps serving, nothing refused', async () => {
    const before = await settled();
    const live = before.liveMember as MemberName;
    const all: Clients[] = [];
    const clients = new Clients('host', 8, live, all);
    const sampler = newSampler();
    sampler.start();
    clients.start();
    await sleep(2000);
    await loopback.operator.stop();
    const stoppedAt = Date.now();
    await sleep(12_000);
    expect(clients.okAfter(stoppedAt, live)).toBeGreaterThan(100);
    expect(clients.refused.NO_QUORUM ?? 0).toBe(0);
    await loopback.operator.start();
    const after = await settled();
    expect(after.liveMember).toBe(live);
    expect(after.failoverCount).toBe(before.failoverCount);
    clients.stop();
    sampler.stop();
    invariants(sampler, all);
  });

  it('the operator leader killed while the live member serves alone: its last grant outlasts the handover (no refusal), never two granting', async () => {
    const before = await settled();
    const live = before.liveMember as MemberName;
    const standby = otherMember(live);
    // Two replicas with leader election instead of the single operator.
    await loopback.operator.stop();
    const LEASE = 'lpo-split-leader';
    const env = (id: string) => leaderElectionEnv(ns, id, LEASE);
    const replicas = [
      new OperatorProcess(env('split-a'), 'split-a'),
      new OperatorProcess(env('split-b'), 'split-b'),
    ];
    const holder = async () =>
      (await k.coordination.readNamespacedLease({ namespace: ns, name: LEASE }).catch(() => undefined))?.spec
        ?.holderIdentity;
    const all: Clients[] = [];
    const clients = new Clients('host', 8, live, all);
    const sampler = newSampler();
    try {
      for (const r of replicas) {
        started.push(() => r.stop());
        await r.start();
      }
      const first = await eventually('a leader', holder, 30_000);
      sampler.start();
      clients.start();
      await sleep(2000);
      partitionAddresses(memberIPs[live], memberIPs[standby]);
      await eventually(
        'the live member serving alone',
        async () => (await pair()).status?.servingAlone?.member === live,
        15_000,
      );
      await sleep(2000);
      const leader = replicas.find((_, i) => ['split-a', 'split-b'][i] === first)!;
      const refusedBeforeKill = clients.refused.NO_QUORUM ?? 0;
      await leader.kill('SIGKILL');
      const killedAt = Date.now();
      await eventually(
        'the other replica leading',
        async () => {
          const h = await holder();
          return h !== undefined && h !== first;
        },
        30_000,
      );
      // The new leader grants again: the live member is served alone once more.
      await eventually(
        'served alone again under the new leader',
        async () => clients.okAfter(Date.now() - 500, live) > 0,
        30_000,
      );
      // Grants outlast the Lease and a retry period (soloGrantMs): the live member kept serving.
      expect(clients.refused.NO_QUORUM ?? 0, 'NO_QUORUM refusals during the leader handover').toBe(
        refusedBeforeKill,
      );
      process.stdout.write(
        `leader handover while serving alone: ${(clients.refused.NO_QUORUM ?? 0) - refusedBeforeKill} refusals, ${clients.okAfter(killedAt, live)} changes acknowledged\n`,
      );
      const s = (await pair()).status!;
      expect(s.liveMember).toBe(live);
      expect(s.failoverCount).toBe(before.failoverCount);
      expect(clients.okAfter(killedAt, live)).toBeGreaterThan(0);
      expect((await loopback.members[standby].status()).role).toBe('standby');
    } finally {
      healAddresses();
    }
    await settled(60_000);
    clients.stop();
    sampler.stop();
    invariants(sampler, all);
    await everyHeldLeaseOnTheActive(all);
    for (const r of replicas) await r.stop();
    await loopback.operator.start();
  });
});
