// The HTTP layer of one member, in-process: routes vs OpenAPI, validation, tokens, licence
// reload, metrics, restart from the journal.
import fs from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { adminApp, clientApp, metricsApp, registeredRoutes } from '../../../src/license-server/http.ts';
import { startServer } from '../../../src/license-server/main.ts';
import type { RunningServer } from '../../../src/license-server/main.ts';
import { openApiDocument } from '../../../src/license-server/openapi.ts';
import { feature, makeFixture, testConfig } from './fixtures.ts';
import type { Fixture } from './fixtures.ts';

async function until<T>(fn: () => Promise<T | undefined> | T | undefined, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('OpenAPI description', () => {
  it('lists exactly the routes registered on each port', async () => {
    const fx = makeFixture();
    const s = await startServer(testConfig(fx));
    try {
      const opts = {
        bodyLimit: '1kb',
        requestTimeoutMs: 1000,
        adminTokens: undefined,
        clientTokens: undefined,
      };
      const byPort = (port: string): string[] =>
        Object.entries(openApiDocument.paths)
          .filter(([, item]) => (item['x-port'] as readonly string[]).includes(port))
          .flatMap(([p, item]) =>
            Object.keys(item)
              .filter((k) => k !== 'x-port')
              .map((m) => `${m.toUpperCase()} ${p}`),
          )
          .sort();
      const routes = (app: Parameters<typeof registeredRoutes>[0]): string[] =>
        registeredRoutes(app)
          .map(([m, p]) => `${m} ${p}`)
          .sort();
      expect(routes(clientApp(s.member, opts))).toEqual(byPort('licences'));
      expect(routes(adminApp(s.member, opts))).toEqual(byPort('admin'));
      expect(routes(metricsApp(s.member))).toEqual(['GET /metrics']);
      const served = await fetch(`http://127.0.0.1:${s.ports.licences}/v1/openapi.json`);
      expect(((await served.json()) as { openapi: string }).openapi).toBe('3.0.3');
    } finally {
      await s.close();
      fx.cleanup();
    }
  });
});

describe('one member over HTTP', () => {
  let fx: Fixture;
  let s: RunningServer;
  let auth: Record<string, string>;
  const url = (port: 'licences' | 'admin' | 'metrics', p: string): string =>
    `http://127.0.0.1:${s.ports[port]}${p}`;
  const post = async (port: 'licences' | 'admin', p: string, body: unknown, headers = auth) => {
    const r = await fetch(url(port, p), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  const status = async () =>
    (await (await fetch(url('admin', '/v1/status'), { headers: auth })).json()) as Record<string, unknown>;

  beforeAll(async () => {
    fx = makeFixture([feature('synth', 2)]);
    auth = { authorization: `Bearer ${fx.token}` };
    s = await startServer(testConfig(fx));
  });
  afterAll(async () => {
    await s.close();
    fx.cleanup();
  });
  afterEach(() => {
    fx.writeLicence([feature('synth', 2)]);
  });

  it('starts as standby, answers NOT_ACTIVE, and is promoted by the admin API', async () => {
    expect(await fetch(url('admin', '/healthz')).then((r) => r.status)).toBe(200);
    expect(await fetch(url('admin', '/readyz')).then((r) => r.status)).toBe(503);
    const c = await post('licences', '/v1/checkout', {
      feature: 'synth',
      clientId: 'a',
      user: 'u',
      host: 'h',
    });
    expect(c).toMatchObject({ status: 503, body: { code: 'NOT_ACTIVE' } });
    expect(await post('admin', '/v1/admin/promote', { epoch: 0 })).toMatchObject({
      status: 400,
      body: { code: 'BAD_REQUEST' },
    });
    expect(await post('admin', '/v1/admin/promote', { epoch: 1 })).toMatchObject({
      status: 200,
      body: { role: 'active', epoch: 1 },
    });
    expect(await post('admin', '/v1/admin/promote', { epoch: 1 })).toMatchObject({
      status: 409,
      body: { code: 'STALE_EPOCH' },
    });
    expect(await fetch(url('admin', '/readyz')).then((r) => r.status)).toBe(200);
    // Demoted with its own epoch, then promoted with it again (found by Schemathesis: a 500): the
    // journal already began that epoch, so it is a stale epoch, not a server error.
    expect(await post('admin', '/v1/admin/demote', { epoch: 1 })).toMatchObject({ status: 200 });
    expect(await post('admin', '/v1/admin/promote', { epoch: 1, force: true })).toMatchObject({
      status: 409,
      body: { code: 'STALE_EPOCH' },
    });
    expect(await post('admin', '/v1/admin/promote', { epoch: 2, force: true })).toMatchObject({
      status: 200,
      body: { role: 'active', epoch: 2 },
    });
  });

  it('rejects bad bodies and wrong tokens with a clear 4xx, changing nothing', async () => {
    const before = await status();
    const bad = [
      await post('licences', '/v1/checkout', '{not json'),
      await post('licences', '/v1/checkout', { feature: 'synth' }),
      await post('licences', '/v1/checkout', {
        feature: 'synth',
        clientId: 'a',
        user: 'u',
        host: 'h',
        count: 0,
      }),
      await post('licences', '/v1/checkout', { feature: 'synth', clientId: 'a', user: 'u', host: 'h', x: 1 }),
      await post('licences', '/v1/renew', { leaseId: 5 }),
    ];
    for (const b of bad) {
      expect(b.status).toBe(400);
      expect(b.body.code).toBe('BAD_REQUEST');
      expect(typeof b.body.message).toBe('string');
    }
    expect(bad[1]?.body.message).toMatch(/clientId/);
    const big = await post('licences', '/v1/checkout', { feature: 'x'.repeat(20_000) });
    expect(big).toMatchObject({ status: 413, body: { code: 'PAYLOAD_TOO_LARGE' } });
    const wrong = { authorization: 'Bearer nope' };
    expect(await post('admin', '/v1/admin/promote', { epoch: 9 }, wrong)).toMatchObject({
      status: 401,
      body: { code: 'UNAUTHORIZED' },
    });
    expect(await post('admin', '/v1/admin/demote', { epoch: 9 }, {})).toMatchObject({ status: 401 });
    expect((await fetch(url('admin', '/v1/status'))).status).toBe(401);
    expect((await fetch(url('admin', '/v1/replication/snapshot'))).status).toBe(401);
    expect(await fetch(url('licences', '/v1/nope')).then((r) => r.status)).toBe(404);
    const after = await status();
    expect(after.role).toBe(before.role);
    expect(after.epoch).toBe(before.epoch);
    expect(after.activeLeases).toBe(before.activeLeases);
    expect((after.replication as { lastSeq: number }).lastSeq).toBe(
      (before.replication as { lastSeq: number }).lastSeq,
    );
  });

  it('checks out, renews, releases; lists and revokes leases', async () => {
    const a = await post('licences', '/v1/checkout', {
      feature: 'synth',
      clientId: 'a',
      user: 'u',
      host: 'h',
    });
    expect(a.status).toBe(200);
    const lease = a.body.lease as { id: string; renewAfterSeconds: number; expiresInSeconds: number };
    expect(lease.expiresInSeconds).toBeGreaterThan(59);
    expect(lease.renewAfterSeconds).toBeGreaterThan(29);
    const again = await post('licences', '/v1/checkout', {
      feature: 'synth',
      clientId: 'a',
      user: 'u',
      host: 'h',
    });
    expect((again.body.lease as { id: string; existing: boolean }).id).toBe(lease.id);
    await post('licences', '/v1/checkout', { feature: 'synth', clientId: 'b', user: 'u', host: 'h' });
    const denied = await post('licences', '/v1/checkout', {
      feature: 'synth',
      clientId: 'c',
      user: 'u',
      host: 'h',
    });
    expect(denied).toMatchObject({ status: 409, body: { code: 'NO_SEATS' } });
    const unknown = await post('licences', '/v1/checkout', {
      feature: 'nope',
      clientId: 'c',
      user: 'u',
      host: 'h',
    });
    expect(unknown).toMatchObject({ status: 404, body: { code: 'UNKNOWN_FEATURE' } });
    expect(await post('licences', '/v1/renew', { leaseId: lease.id, clientId: 'a' })).toMatchObject({
      status: 200,
    });
    expect(await post('licences', '/v1/renew', { leaseId: lease.id, clientId: 'zz' })).toMatchObject({
      status: 404,
      body: { code: 'LEASE_NOT_FOUND' },
    });
    const features = (await (await fetch(url('licences', '/v1/features'))).json()) as {
      features: { name: string; inUse: number; seats: number }[];
    };
    expect(features.features).toMatchObject([{ name: 'synth', inUse: 2, seats: 2 }]);
    const list = (await (await fetch(url('admin', '/v1/admin/leases'), { headers: auth })).json()) as {
      leases: { id: string }[];
    };
    expect(list.leases).toHaveLength(2);
    const revoked = await fetch(url('admin', `/v1/admin/leases/${lease.id}`), {
      method: 'DELETE',
      headers: auth,
    });
    expect(revoked.status).toBe(200);
    expect(await post('licences', '/v1/release', { leaseId: lease.id, clientId: 'a' })).toMatchObject({
      status: 404,
    });
    const b = (list.leases.find((l) => l.id !== lease.id) as { id: string }).id;
    expect(await post('licences', '/v1/release', { leaseId: b, clientId: 'b' })).toMatchObject({
      status: 200,
    });
  });

  it('exports the metrics', async () => {
    const text = await (await fetch(url('metrics', '/metrics'))).text();
    for (const name of [
      'license_server_seats_licensed{feature="synth"} 2',
      'license_server_seats_in_use{feature="synth"} 0',
      'license_server_checkouts_total{feature="synth",result="granted"}',
      'license_server_denials_total{feature="synth",reason="NO_SEATS"} 1',
      'license_server_active_leases 0',
      'license_server_role{role="active"} 1',
      'license_server_replication_lag_entries 0',
      'license_server_replication_lag_seconds 0',
      'license_server_peer_last_seen_seconds',
      // Promoted with epoch 2 by the role-change test above.
      'license_server_epoch 2',
      'license_server_license_valid 1',
      'process_cpu_seconds_total',
    ])
      expect(text).toContain(name);
  });

  it('reloads a new licence file without a restart; a broken one is refused and the last good stays', async () => {
    fx.writeLicence([feature('synth', 7), feature('sim', 1)]);
    await until(async () =>
      ((await status()).license as { message: string }).message.startsWith('2 features'),
    );
    // a tampered file
    const good = fs.readFileSync(fx.licenceFile, 'utf8');
    fs.writeFileSync(fx.licenceFile, good.replace('"seats": 7', '"seats": 700'));
    const st = await until(async () => {
      const x = (await status()).license as { state: string; lastError?: string };
      return x.lastError ? x : undefined;
    });
    expect(st.state).toBe('valid');
    expect(st.lastError).toMatch(/signature does not match the issuer key/);
    // The operator reads what refused it, and the licence still in force.
    expect(st).toMatchObject({
      lastErrorCode: 'BAD_SIGNATURE',
      firstExpiry: { feature: expect.any(String) },
    });
    expect(Date.parse((st as { expires?: string }).expires ?? '')).toBeGreaterThan(Date.now());
    const r = await post('admin', '/v1/admin/reload-license', {});
    expect(r).toMatchObject({ status: 422, body: { code: 'LICENSE_INVALID' } });
    const features = (await (await fetch(url('licences', '/v1/features'))).json()) as {
      features: { name: string; seats: number }[];
    };
    expect(features.features.find((f) => f.name === 'synth')?.seats).toBe(7);
    // a licence for another pair
    fx.writeLicence([feature('synth', 3)], 'licensing/other');
    expect(await post('admin', '/v1/admin/reload-license', {})).toMatchObject({
      status: 422,
      body: { message: 'issued to licensing/other, this pair is licensing/eda-tools' },
    });
    const text = await (await fetch(url('metrics', '/metrics'))).text();
    expect(text).toMatch(/license_server_license_reloads_total\{result="refused"\} [1-9]/);
  });

  it('accepts a rotated admin token at once and the previous one during the grace period', async () => {
    const old = fx.token;
    fs.writeFileSync(fx.tokenFile, 'rotated-token\n');
    await until(
      async () =>
        (await fetch(url('admin', '/v1/status'), { headers: { authorization: 'Bearer rotated-token' } }))
          .status === 200,
    );
    expect(
      (await fetch(url('admin', '/v1/status'), { headers: { authorization: `Bearer ${old}` } })).status,
    ).toBe(200);
    expect(
      (await fetch(url('admin', '/v1/status'), { headers: { authorization: 'Bearer other' } })).status,
    ).toBe(401);
  });
});

describe('restart', () => {
  it('keeps leases and epoch across a restart, and comes back as standby', async () => {
    const fx = makeFixture([feature('synth', 3)]);
    const cfg = testConfig(fx);
    const auth = { authorization: `Bearer ${fx.token}`, 'content-type': 'application/json' };
    let s = await startServer(cfg);
    const base = (p: number) => `http://127.0.0.1:${p}`;
    await fetch(`${base(s.ports.admin)}/v1/admin/promote`, {
      method: 'POST',
      headers: auth,
      body: '{"epoch":4}',
    });
    const ids: string[] = [];
    for (const c of ['a', 'b']) {
      const r = await fetch(`${base(s.ports.licences)}/v1/checkout`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ feature: 'synth', clientId: c, user: 'u', host: 'h' }),
      });
      ids.push(((await r.json()) as { lease: { id: string } }).lease.id);
    }
    await s.close();
    s = await startServer(cfg);
    try {
      const st = (await (await fetch(`${base(s.ports.admin)}/v1/status`, { headers: auth })).json()) as {
        role: string;
        epoch: number;
        activeLeases: number;
      };
      expect(st).toMatchObject({ role: 'standby', epoch: 4, activeLeases: 2 });
      await fetch(`${base(s.ports.admin)}/v1/admin/promote`, {
        method: 'POST',
        headers: auth,
        body: '{"epoch":5}',
      });
      const r = await fetch(`${base(s.ports.licences)}/v1/renew`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ leaseId: ids[0], clientId: 'a' }),
      });
      expect(r.status).toBe(200);
    } finally {
      await s.close();
      fx.cleanup();
    }
  });
});
