// The application's view of a failover: LicenseClient against two real licence-server processes
// on loopback, through a stand-in for the pair's Service. Role changes are made as the operator
// makes them, with the admin API and the admin token.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LicenseClient, LicenseUnavailableError } from '../../src/client/client.ts';
import type { ClientEvent, LeaseJson } from '../../src/client/client.ts';
import { PAIR_ID, feature, makeFixture } from '../unit/license-server/fixtures.ts';
import type { Fixture } from '../unit/license-server/fixtures.ts';
import { ServerProcess, adminClient, until } from './harness.ts';
import { ServiceProxy } from './service-proxy.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('LicenseClient across role changes of a real pair', () => {
  let fx: Fixture;
  let primary: ServerProcess;
  let redundant: ServerProcess;
  let service: ServiceProxy;
  const admin = adminClient(() => fx.token);
  const clients: LicenseClient[] = [];

  const client = (
    clientId: string,
    addresses: string[] | string,
    extra: Partial<ConstructorParameters<typeof LicenseClient>[0]> = {},
  ) => {
    const c = new LicenseClient({
      addresses,
      clientId,
      user: 'alice',
      host: 'ws1',
      autoRenew: false,
      ...extra,
    });
    clients.push(c);
    return c;
  };

  /** The member that is active now, and the other one. */
  async function roles(): Promise<{ active: ServerProcess; standby: ServerProcess; epoch: number }> {
    const [a, b] = [await admin.status(primary), await admin.status(redundant)];
    if (a.role === 'active')
      return { active: primary, standby: redundant, epoch: Math.max(a.epoch, b.epoch) };
    if (b.role === 'active')
      return { active: redundant, standby: primary, epoch: Math.max(a.epoch, b.epoch) };
    throw new Error('no member is active');
  }

  beforeAll(async () => {
    fx = makeFixture([feature('sim', 20)]);
    const spec = (name: string) => ({
      name,
      pairId: PAIR_ID,
      licenceFile: fx.licenceFile,
      publicKeyFile: fx.publicKeyFile,
      tokenFile: fx.tokenFile,
      stateDir: fx.stateDir(name),
      logDir: fx.dir,
      env: { LS_LEASE_TTL_SECONDS: '30', LS_SWEEP_INTERVAL_MS: '200' },
    });
    primary = await ServerProcess.create(spec('primary'));
    redundant = await ServerProcess.create(spec('redundant'));
    await Promise.all([primary.start(redundant), redundant.start(primary)]);
    expect(await admin.post(primary, '/v1/admin/promote', { epoch: 1 })).toMatchObject({ status: 200 });
    await until(
      'standby in sync',
      async () => (await admin.status(redundant)).replication.state === 'in-sync',
    );
    service = await ServiceProxy.start(primary.ports.licences);
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await service?.close();
    await Promise.all([primary?.stop(), redundant?.stop()]);
    fx?.cleanup();
  });

  it('checkouts and renewals through the Service ride through a switchover (demote, then promote the standby) with the same lease', async () => {
    const events: ClientEvent[] = [];
    const c = client('rider', service.url, { onEvent: (e) => events.push(e) });
    const lease = await c.checkout('sim');
    const calls: { op: string; ms: number; id?: string; error?: string }[] = [];
    let stop = false;
    const loop = async (op: 'renew' | 'checkout'): Promise<void> => {
      while (!stop) {
        const t = performance.now();
        try {
          const l: LeaseJson = op === 'renew' ? await c.renew(lease.id) : await c.checkout('sim');
          calls.push({ op, ms: performance.now() - t, id: l.id });
        } catch (err) {
          calls.push({ op, ms: performance.now() - t, error: String(err) });
        }
        await sleep(20);
      }
    };
    const loops = [loop('renew'), loop('checkout')];
    await sleep(300);

    // As the operator switches over: the Service to the target, demote the live member with a new
    // epoch, promote the target with it. The pause stands for a slower operator (or a failed
    // member's detection): calls in it get NOT_ACTIVE and are retried.
    const { epoch } = await roles();
    const switchedAt = performance.now();
    service.point(redundant.ports.licences);
    expect(await admin.post(primary, '/v1/admin/demote', { epoch: epoch + 1 })).toMatchObject({
      status: 200,
    });
    await sleep(500);
    expect(await admin.post(redundant, '/v1/admin/promote', { epoch: epoch + 1, force: true })).toMatchObject(
      {
        status: 200,
      },
    );
    const promotedMs = performance.now() - switchedAt;
    await sleep(1000);
    stop = true;
    await Promise.all(loops);

    expect(calls.filter((x) => x.error)).toEqual([]);
    expect(new Set(calls.map((x) => x.id))).toEqual(new Set([lease.id]));
    const retried = events.filter((e) => e.type === 'retry');
    expect(retried.length).toBeGreaterThan(0); // the calls did cross the switch
    expect(retried.some((e) => /NOT_ACTIVE/.test((e as { error: string }).error))).toBe(true);
    const longest = Math.max(...calls.map((x) => x.ms));
    expect(longest).toBeGreaterThan(400); // a call waited through the gap …
    expect(longest).toBeLessThan(promotedMs + 2000); // … and not much longer than the switch
    console.log(
      `switchover: promoted ${promotedMs.toFixed(0)} ms after the Service moved; ${calls.length} calls, ` +
        `${retried.length} retries, the longest call took ${longest.toFixed(0)} ms`,
    );
    // the new active has the lease, under the same id, for the same client
    const onActive = (await admin.leases(redundant)).filter((l) => l.clientId === 'rider');
    expect(onActive.map((l) => l.id)).toEqual([lease.id]);
    expect((await admin.status(primary)).role).toBe('standby');
    // kept-alive connections through the Service stayed on the old member; the client left them
    expect(service.accepted.get(redundant.ports.licences) ?? 0).toBeGreaterThan(0);
    await c.release(lease.id);
    expect((await admin.leases(redundant)).some((l) => l.clientId === 'rider')).toBe(false);
  });

  it('follows the NOT_ACTIVE redirect of a standby to the active member', async () => {
    const { active, standby } = await roles();
    await until('the standby knows the active', async () => {
      const r = await fetch(`${standby.clientUrl}/v1/checkout`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ feature: 'sim', clientId: 'probe', user: 'u', host: 'h' }),
      });
      return ((await r.json()) as { active?: string }).active === active.clientUrl;
    });
    const events: ClientEvent[] = [];
    const c = client('redirected', standby.clientUrl, { onEvent: (e) => events.push(e) });
    const lease = await c.checkout('sim');
    expect(events).toContainEqual({ type: 'redirect', from: standby.clientUrl, to: active.clientUrl });
    expect(c.address).toBe(active.clientUrl);
    expect((await admin.leases(active)).find((l) => l.clientId === 'redirected')?.id).toBe(lease.id);
    // the next call goes straight to the active member
    const before = events.length;
    await c.renew(lease.id);
    expect(events.slice(before)).toEqual([]);
    await c.release(lease.id);
  });

  it('retries NO_QUORUM until the operator grants the active to serve alone; a typed error once the budget is spent', async () => {
    const { active, standby } = await roles();
    await standby.kill('SIGKILL');
    try {
      await until(
        'the active has no right',
        async () => (await admin.status(active)).serving?.right === 'none',
      );

      // nobody grants: the budget runs out, the error names NO_QUORUM
      const events: ClientEvent[] = [];
      const c = client('refused', service.url, { retryBudgetMs: 1500, onEvent: (e) => events.push(e) });
      const t0 = performance.now();
      const err = await c.checkout('sim').catch((e: unknown) => e);
      const ms = performance.now() - t0;
      expect(err).toBeInstanceOf(LicenseUnavailableError);
      const u = err as LicenseUnavailableError;
      expect(u.lastCause).toMatch(/503 NO_QUORUM/);
      expect(u.message).toMatch(
        /^no licence server did the checkout of sim within the retry budget of 1500 ms/,
      );
      expect(u.attempts).toBeGreaterThan(1);
      expect(ms).toBeGreaterThan(1000);
      expect(ms).toBeLessThan(1500 + 600);
      expect(events.filter((e) => e.type === 'retry').length).toBe(u.attempts - 1);
      console.log(`NO_QUORUM: gave up after ${ms.toFixed(0)} ms and ${u.attempts} attempts: ${u.message}`);
      expect((await admin.leases(active)).some((l) => l.clientId === 'refused')).toBe(false);

      // the operator's grant comes while the call retries: it succeeds
      const d = client('granted', service.url, { retryBudgetMs: 8000, onEvent: (e) => events.push(e) });
      const t1 = performance.now();
      const pending = d.checkout('sim');
      await sleep(800);
      const st = await admin.status(active);
      expect(
        await admin.post(active, '/v1/admin/grant', {
          epoch: st.epoch,
          anchor: st.serving!.anchor,
          ms: 5000,
        }),
      ).toMatchObject({ status: 200 });
      const lease = await pending;
      expect(performance.now() - t1).toBeGreaterThan(800);
      expect((await admin.leases(active)).find((l) => l.clientId === 'granted')?.id).toBe(lease.id);
      await d.release(lease.id);
    } finally {
      await standby.start(active);
      await until(
        'standby back in sync',
        async () => (await admin.status(standby)).replication.state === 'in-sync',
      );
    }
  });
});
