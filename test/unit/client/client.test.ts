// The client library against in-process members: redirects, address lists, renewals, idempotency.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LeaseLostError,
  LicenseClient,
  LicenseError,
  LicenseRefusedError,
  LicenseUnavailableError,
} from '../../../src/client/client.ts';
import type { ClientEvent } from '../../../src/client/client.ts';
import { startServer } from '../../../src/license-server/main.ts';
import type { RunningServer } from '../../../src/license-server/main.ts';
import { feature, makeFixture, testConfig } from '../license-server/fixtures.ts';
import type { Fixture } from '../license-server/fixtures.ts';

describe('LicenseClient', () => {
  let fx: Fixture;
  let active: RunningServer;
  let standby: RunningServer;
  const url = (s: RunningServer): string => `http://127.0.0.1:${s.ports.licences}`;

  beforeAll(async () => {
    fx = makeFixture([feature('synth', 2)]);
    active = await startServer(testConfig(fx, { member: 'primary', leaseTtlMs: 1000 }));
    standby = await startServer(
      testConfig(fx, {
        member: 'redundant',
        leaseTtlMs: 1000,
        peerUrl: `http://127.0.0.1:${active.ports.admin}`,
      }),
    );
    active.member.config.advertiseUrl = url(active);
    const r = await active.member.promote(1, true);
    expect(r.ok).toBe(true);
  });
  afterAll(async () => {
    await standby.close();
    await active.close();
    fx.cleanup();
  });

  it('follows the NOT_ACTIVE redirect of the standby', async () => {
    const events: ClientEvent[] = [];
    const c = new LicenseClient({
      addresses: url(standby),
      clientId: 'redirected',
      user: 'u',
      host: 'h',
      autoRenew: false,
      onEvent: (e) => events.push(e),
    });
    // the standby learns the active's address from the replication stream
    for (let i = 0; i < 100 && standby.member.activeAddress === null; i++)
      await new Promise((r) => setTimeout(r, 20));
    const lease = await c.checkout('synth');
    expect(lease.feature).toBe('synth');
    expect(events).toContainEqual({ type: 'redirect', from: url(standby), to: url(active) });
    expect(c.address).toBe(url(active));
    await c.release(lease.id);
  });

  it('tries the address list in order, skipping a dead address', async () => {
    const c = new LicenseClient({
      addresses: ['http://127.0.0.1:1', url(active)],
      clientId: 'listed',
      user: 'u',
      host: 'h',
      autoRenew: false,
      backoffBaseMs: 10,
    });
    const lease = await c.checkout('synth');
    const again = await c.checkout('synth');
    expect(again.id).toBe(lease.id);
    expect(active.member.leases().filter((l) => l.clientId === 'listed')).toHaveLength(1);
    await c.release(lease.id);
  });

  it('renews automatically at renewAfter', async () => {
    const renewed: string[] = [];
    const c = new LicenseClient({
      addresses: url(active),
      clientId: 'renewer',
      user: 'u',
      host: 'h',
      onEvent: (e) => e.type === 'renewed' && renewed.push(e.lease.id),
    });
    const lease = await c.checkout('synth');
    for (let i = 0; i < 100 && renewed.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
    expect(renewed.slice(0, 2)).toEqual([lease.id, lease.id]);
    // the TTL is 1 s: the lease is still there after 2 s because it is renewed
    expect(active.member.leases().some((l) => l.id === lease.id)).toBe(true);
    await c.release(lease.id);
    c.close();
  });

  it('reports denials as LicenseError with the code, without retrying', async () => {
    const c = new LicenseClient({
      addresses: url(active),
      clientId: 'x',
      user: 'u',
      host: 'h',
      autoRenew: false,
    });
    const err = await c.checkout('nope').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LicenseError);
    expect(err).toBeInstanceOf(LicenseRefusedError);
    expect((err as LicenseError).code).toBe('UNKNOWN_FEATURE');
    expect((err as Error).message).toBe(
      'the checkout of nope was refused: 404 UNKNOWN_FEATURE: feature nope is not licensed',
    );
    c.close();
  });

  it('the heartbeat reports a revoked lease as lost, typed, and stops renewing it', async () => {
    const events: ClientEvent[] = [];
    const c = new LicenseClient({
      addresses: url(active),
      clientId: 'revoked',
      user: 'u',
      host: 'h',
      onEvent: (e) => events.push(e),
    });
    const lease = await c.checkout('synth');
    expect((await active.member.revoke(lease.id)).ok).toBe(true);
    for (let i = 0; i < 100 && !events.some((e) => e.type === 'lease-lost'); i++)
      await new Promise((r) => setTimeout(r, 20));
    const lost = events.find((e) => e.type === 'lease-lost');
    expect(lost).toMatchObject({ feature: 'synth', leaseId: lease.id });
    const reason = (lost as { reason: LeaseLostError }).reason;
    expect(reason).toBeInstanceOf(LeaseLostError);
    expect(reason).toMatchObject({ code: 'LEASE_NOT_FOUND', leaseId: lease.id });
    expect(reason.message).toMatch(
      new RegExp(`^lease ${lease.id} is lost \\(renewal of lease ${lease.id}\\): 404 LEASE_NOT_FOUND`),
    );
    expect(c.leases()).toEqual([]);
    // an explicit renewal says the same
    await expect(c.renew(lease.id)).rejects.toBeInstanceOf(LeaseLostError);
    c.close();
  });

  it('gives up with UNAVAILABLE after its retry budget', async () => {
    const c = new LicenseClient({
      addresses: ['http://127.0.0.1:1'],
      clientId: 'x',
      user: 'u',
      host: 'h',
      retryBudgetMs: 300,
      backoffBaseMs: 20,
    });
    const t = Date.now();
    const err = await c.checkout('synth').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LicenseUnavailableError);
    expect((err as LicenseError).code).toBe('UNAVAILABLE');
    expect((err as LicenseUnavailableError).lastCause).toBe(
      'http://127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1',
    );
    expect(Date.now() - t).toBeLessThan(2000);
  });
});
