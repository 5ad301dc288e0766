// Two real licence-server processes, real clients: seats, kill -9 failover during a checkout
// storm, standby outage and catch-up, tampered licence files, bad requests.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LicenseClient } from '../../src/client/client.ts';
import type { LeaseJson } from '../../src/client/client.ts';
import { PAIR_ID, feature, makeFixture } from '../unit/license-server/fixtures.ts';
import type { Fixture } from '../unit/license-server/fixtures.ts';
import { NODE, ROOT, ServerProcess, adminClient, until } from './harness.ts';

type Pair = { fx: Fixture; primary: ServerProcess; redundant: ServerProcess };

async function startPair(fx: Fixture, env: Record<string, string> = {}): Promise<Pair> {
  const spec = (name: string) => ({
    name,
    pairId: PAIR_ID,
    licenceFile: fx.licenceFile,
    publicKeyFile: fx.publicKeyFile,
    tokenFile: fx.tokenFile,
    stateDir: fx.stateDir(name),
    logDir: fx.dir,
    env: { LS_LEASE_TTL_SECONDS: '4', LS_SWEEP_INTERVAL_MS: '200', ...env },
  });
  const primary = await ServerProcess.create(spec('primary'));
  const redundant = await ServerProcess.create(spec('redundant'));
  await Promise.all([primary.start(redundant), redundant.start(primary)]);
  return { fx, primary, redundant };
}

const checkoutBody = (clientId: string, featureName = 'synth') =>
  JSON.stringify({ feature: featureName, clientId, user: 'alice', host: 'ws1' });

async function checkout(p: ServerProcess, clientId: string, featureName = 'synth') {
  const r = await fetch(`${p.clientUrl}/v1/checkout`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: checkoutBody(clientId, featureName),
  });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

describe('a pair of server processes', () => {
  let pair: Pair;
  const admin = adminClient(() => pair.fx.token);

  beforeAll(async () => {
    const fx = makeFixture([feature('synth', 5), feature('storm', 100)]);
    pair = await startPair(fx);
    expect(await admin.post(pair.primary, '/v1/admin/promote', { epoch: 1 })).toMatchObject({ status: 200 });
    await until(
      'standby in sync',
      async () => (await admin.status(pair.redundant)).replication.state === 'in-sync',
    );
  });
  afterAll(async () => {
    await Promise.all([pair.primary.stop(), pair.redundant.stop()]);
    pair.fx.cleanup();
  });

  it('grants checkouts up to the seat count, then denies with NO_SEATS; the standby redirects', async () => {
    for (let i = 0; i < 5; i++) expect((await checkout(pair.primary, `seat-${i}`)).status).toBe(200);
    const denied = await checkout(pair.primary, 'seat-5');
    expect(denied).toMatchObject({ status: 409, body: { code: 'NO_SEATS' } });
    expect(denied.body.message).toMatch(/all 5 seats of synth are in use/);
    const standby = await checkout(pair.redundant, 'seat-6');
    expect(standby).toMatchObject({
      status: 503,
      body: { code: 'NOT_ACTIVE', active: pair.primary.clientUrl },
    });
    // the standby has the leases (synchronous replication)
    const st = await admin.status(pair.redundant);
    expect(st.activeLeases).toBe(5);
    const stA = await admin.status(pair.primary);
    expect(stA.replication).toMatchObject({ state: 'in-sync', mode: 'sync', lagEntries: 0 });
  });

  it('answers bad bodies and wrong tokens with a clear 4xx and changes nothing', async () => {
    const before = await admin.status(pair.primary);
    const bad = await fetch(`${pair.primary.clientUrl}/v1/checkout`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"feature": "synth", "count": -1}',
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { code: string }).code).toBe('BAD_REQUEST');
    const wrong = await fetch(`${pair.primary.adminUrl}/v1/admin/demote`, {
      method: 'POST',
      headers: { authorization: 'Bearer wrong', 'content-type': 'application/json' },
      body: '{"epoch": 99}',
    });
    expect(wrong.status).toBe(401);
    // the active's own epoch again: stale
    const stale = await admin.post(pair.primary, '/v1/admin/promote', { epoch: 1 });
    expect(stale).toMatchObject({ status: 409, body: { code: 'STALE_EPOCH' } });
    // a standby may be promoted at the epoch it learned from its peer, but not while that peer
    // is active with it
    const same = await admin.post(pair.redundant, '/v1/admin/promote', { epoch: 1 });
    expect(same).toMatchObject({ status: 409, body: { code: 'PEER_ACTIVE' } });
    const peerActive = await admin.post(pair.redundant, '/v1/admin/promote', { epoch: 1_000 });
    expect(peerActive.status).toBe(200); // epoch above the active's: allowed, the old active steps down
    await until('old active steps down', async () => (await admin.status(pair.primary)).role === 'standby');
    // hand the role back to the primary for the next tests
    await until(
      'primary following',
      async () => (await admin.status(pair.primary)).replication.state === 'in-sync',
    );
    expect(await admin.post(pair.primary, '/v1/admin/promote', { epoch: 1_001 })).toMatchObject({
      status: 200,
    });
    await until('redundant standby', async () => (await admin.status(pair.redundant)).role === 'standby');
    await until(
      'redundant in sync',
      async () => (await admin.status(pair.redundant)).replication.state === 'in-sync',
    );
    const after = await admin.status(pair.primary);
    expect(after.activeLeases).toBe(before.activeLeases);
    expect(await admin.post(pair.primary, '/v1/admin/promote', { epoch: 1_000 })).toMatchObject({
      status: 409,
      body: { code: 'STALE_EPOCH' },
    });
  });

  it('a standby that is down stops the active granting until the operator grants it to serve alone; it catches up when back', async () => {
    await pair.redundant.kill('SIGKILL');
    // the standby's last promise lapses (1 s): no right, so nothing is acknowledged any more
    await until(
      'peer right lapsed',
      async () => (await admin.status(pair.primary)).serving?.right === 'none',
    );
    const refused = await checkout(pair.primary, 'alone-refused', 'storm');
    expect(refused).toMatchObject({ status: 503, body: { code: 'NO_QUORUM' } });
    expect((await admin.leases(pair.primary)).some((l) => l.clientId === 'alone-refused')).toBe(false);
    // the operator's part (R3): a solo grant anchored at a status answer
    const st = await admin.status(pair.primary);
    const granted = await admin.post(pair.primary, '/v1/admin/grant', {
      epoch: st.epoch,
      anchor: st.serving!.anchor,
      ms: 3000,
    });
    expect(granted).toMatchObject({ status: 200, body: { serving: { right: 'alone', mayGrant: true } } });
    const t0 = Date.now();
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await checkout(pair.primary, `alone-${i}`, 'storm');
      expect(r.status).toBe(200);
      ids.push((r.body.lease as LeaseJson).id);
    }
    expect(Date.now() - t0).toBeLessThan(2000); // alone: no wait for the standby
    expect((await admin.status(pair.primary)).replication.lagEntries as number).toBeGreaterThan(0);
    await pair.redundant.start(pair.primary);
    await until('standby caught up', async () => {
      const [a, b] = [await admin.status(pair.primary), await admin.status(pair.redundant)];
      return b.replication.state === 'in-sync' && a.replication.lastSeq === b.replication.lastSeq;
    });
    const onStandby = new Set((await admin.leases(pair.redundant)).map((l) => l.id));
    for (const id of ids) expect(onStandby.has(id)).toBe(true);
    // resynced: the standby has acknowledged everything granted alone, and the grant lapses
    await until('resynced and paired again', async () => {
      const s = (await admin.status(pair.primary)).serving!;
      return s.right === 'peer' && (s.ackedSeq ?? 0) >= (s.aloneSeq ?? Infinity);
    });
  });

  it('kill -9 of the active during a checkout storm, promotion of the standby: no lease lost, none doubled', async () => {
    const clients: LicenseClient[] = [];
    const renewedAfter = new Map<string, number>();
    let promotedAt = Infinity;
    for (let i = 0; i < 40; i++) {
      const id = `storm-${i}`;
      clients.push(
        new LicenseClient({
          addresses: [pair.primary.clientUrl, pair.redundant.clientUrl],
          clientId: id,
          user: `user${i % 7}`,
          host: `host${i % 5}`,
          requestTimeoutMs: 1000,
          retryBudgetMs: 30_000,
          backoffBaseMs: 50,
          backoffMaxMs: 400,
          onEvent: (e) => {
            if (e.type === 'renewed' && Date.now() > promotedAt)
              renewedAfter.set(id, (renewedAfter.get(id) ?? 0) + 1);
          },
        }),
      );
    }
    try {
      const acknowledged = new Map<string, LeaseJson>();
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < clients.length) {
          const c = clients[next++] as LicenseClient;
          const lease = await c.checkout('storm');
          acknowledged.set(lease.clientId, lease);
          // kill -9 the active in the middle of the storm, with checkouts in flight
          if (acknowledged.size === 15) {
            ackedAtKill = acknowledged.size;
            kill.done = pair.primary.kill('SIGKILL');
          }
        }
      };
      const kill: { done?: Promise<void> } = {};
      let ackedAtKill = 0;
      const storm = Promise.all([worker(), worker(), worker(), worker()]);
      await until('the kill', () => kill.done !== undefined);
      await kill.done;
      expect(ackedAtKill).toBeLessThan(40);
      // As the operator does when the live member failed: promote with a grant to serve alone
      // (the dead member is marked not promotable until it has resynced).
      const st = await admin.status(pair.redundant);
      const epoch = st.epoch + 1;
      const promoted = await admin.post(pair.redundant, '/v1/admin/promote', {
        epoch,
        force: true,
        grant: { anchor: st.serving!.anchor, ms: 60_000 },
      });
      expect(promoted).toMatchObject({ status: 200, body: { role: 'active', epoch } });
      promotedAt = Date.now();
      await storm;
      expect(acknowledged.size).toBe(40);

      const leases = (await admin.leases(pair.redundant)).filter((l) => l.feature === 'storm');
      const stormClients = leases.filter((l) => l.clientId.startsWith('storm-'));
      // every lease a client holds is on the new active, and no client holds two seats
      for (const c of clients)
        for (const l of c.leases())
          expect(stormClients.some((x) => x.id === l.id && x.clientId === l.clientId)).toBe(true);
      expect(new Set(stormClients.map((l) => l.clientId)).size).toBe(stormClients.length);
      expect(stormClients).toHaveLength(40);
      const seats = leases.reduce((s, l) => s + l.count, 0);
      const metrics = await (await fetch(`${pair.redundant.metricsUrl}/metrics`)).text();
      expect(metrics).toContain(`license_server_seats_in_use{feature="storm"} ${seats}`);

      // clients keep renewing on the new active (TTL 4 s: renew every 2 s)
      await until(
        'every client renewed after the failover',
        () => clients.every((c) => (renewedAfter.get(c.leases()[0]?.clientId ?? '') ?? 0) >= 1),
        15_000,
      );
      const again = (await admin.leases(pair.redundant)).filter((l) => l.clientId.startsWith('storm-'));
      expect(again).toHaveLength(40);
    } finally {
      for (const c of clients) c.close();
    }
  });
});

describe('licence files on a real process', () => {
  it('refuses a tampered licence file with a clear message', async () => {
    const fx = makeFixture([feature('synth', 5)]);
    const text = fs.readFileSync(fx.licenceFile, 'utf8');
    fs.writeFileSync(fx.licenceFile, text.replace('"seats": 5', '"seats": 500'));
    const p = await ServerProcess.create({
      name: 'tampered',
      pairId: PAIR_ID,
      licenceFile: fx.licenceFile,
      publicKeyFile: fx.publicKeyFile,
      tokenFile: fx.tokenFile,
      stateDir: fx.stateDir('tampered'),
      logDir: fx.dir,
    });
    const admin = adminClient(() => fx.token);
    try {
      await p.start();
      const st = await admin.status(p);
      expect(st.license.state).toBe('invalid');
      expect(st.license.message).toMatch(/^signature does not match the issuer key/);
      expect(st.license).toMatchObject({ code: 'BAD_SIGNATURE' });
      expect(st.license).not.toHaveProperty('expires');
      // Not ready as a standby either: promoted, it could not serve.
      const standbyReady = await fetch(`${p.adminUrl}/readyz`);
      expect(standbyReady.status).toBe(503);
      expect(((await standbyReady.json()) as { reason: string }).reason).toMatch(
        /^standby without a valid licence: signature does not match/,
      );
      await admin.post(p, '/v1/admin/promote', { epoch: 1 });
      const ready = await fetch(`${p.adminUrl}/readyz`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { reason: string }).reason).toMatch(/signature does not match/);
      const r = await checkout(p, 'x');
      expect(r).toMatchObject({ status: 404, body: { code: 'UNKNOWN_FEATURE' } });
      expect(r.body.message).toMatch(/no valid licence is loaded: signature does not match/);
      expect(p.tail()).toMatch(/licence file refused: signature does not match the issuer key/);
      // the CLI says the same
      let out = '';
      try {
        execFileSync(
          NODE,
          [
            path.join(ROOT, 'src/cli/lspctl.ts'),
            'license',
            'verify',
            fx.licenceFile,
            '--public-key',
            fx.publicKeyFile,
          ],
          {
            stdio: 'pipe',
          },
        );
      } catch (err) {
        const e = err as { status: number; stderr: Buffer };
        expect(e.status).toBe(1);
        out = e.stderr.toString();
      }
      expect(out).toMatch(/invalid: signature does not match the issuer key/);
      // a good file is picked up without a restart
      fx.writeLicence([feature('synth', 5)]);
      await until('licence valid', async () => (await admin.status(p)).license.state === 'valid');
      expect((await checkout(p, 'x')).status).toBe(200);
    } finally {
      await p.stop();
      fx.cleanup();
    }
  });
});
