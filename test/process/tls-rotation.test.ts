// Certificate and CA rotation on a real TLS pair while LicenseClients keep checking out: the
// members reload their mounted files (a ..data symlink swap, as the kubelet does) without a
// restart, the clients read their CA bundle file again, and no call is refused, no lease lost.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LicenseClient } from '../../src/client/client.ts';
import type { LeaseJson } from '../../src/client/client.ts';
import type { IssuedCertificate } from '../../src/tls/issued.ts';
import { addToBundle, removeFromBundle } from '../../src/tls/trust-bundle.ts';
import { PAIR_ID, feature, makeFixture } from '../unit/license-server/fixtures.ts';
import { until } from './harness.ts';
import { TlsMember, call, memberCert, newCa, operatorCert, tlsMemberSpec } from './tls-members.ts';

describe('rotation with TLS on, under continuous checkouts', () => {
  const fx = makeFixture([feature('sim', 20)]);
  const members: TlsMember[] = [];
  const clients: LicenseClient[] = [];
  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all(members.map((m) => m.stop()));
    fx.cleanup();
  });

  it('of the serving certificates, then of the CA (old+new bundle, new certificates, old CA dropped): 0 refused calls, 0 lost leases', async () => {
    const ca1 = await newCa('pair CA 1');
    const ca2 = await newCa('pair CA 2');
    const spec = (name: string) =>
      tlsMemberSpec(fx, name, { LS_LEASE_TTL_SECONDS: '30', LS_REPLICATION_MODE: 'sync' });
    const primary = await TlsMember.create(spec('primary'));
    const redundant = await TlsMember.create(spec('redundant'));
    members.push(primary, redundant);

    /** Write each member's Secret (new certificates from `issuer`, bundle `ca`) and wait until both reloaded. */
    const rotate = async (issuer: typeof ca1 | undefined, ca: string): Promise<void> => {
      const before = members.map((m) => m.logged('tls: certificates reloaded'));
      for (const m of members) {
        const current = {
          cert: fs.readFileSync(m.secret.certFile, 'utf8'),
          key: fs.readFileSync(m.secret.keyFile, 'utf8'),
        };
        const next = issuer ? await memberCert(issuer, PAIR_ID, m.spec.name) : undefined;
        m.secret.write({ cert: next?.certPem ?? current.cert, key: next?.keyPem ?? current.key, ca });
      }
      await until('both members reloaded', () =>
        members.every((m, i) => m.logged('tls: certificates reloaded') > before[i]!),
      );
    };
    for (const m of members) {
      const c = await memberCert(ca1, PAIR_ID, m.spec.name);
      m.secret.write({ cert: c.certPem, key: c.keyPem, ca: ca1.certPem });
    }
    await Promise.all([primary.start(redundant, ca1.certPem), redundant.start(primary, ca1.certPem)]);
    const admin = (m: TlsMember, cert: IssuedCertificate, ca: string, pathname: string, body?: unknown) =>
      call(m.adminUrl, pathname, {
        ca,
        cert,
        token: fx.token,
        ...(body ? { method: 'POST' as const, body } : {}),
      });
    const operator1 = await operatorCert(ca1);
    expect(await admin(primary, operator1, ca1.certPem, '/v1/admin/promote', { epoch: 1 })).toMatchObject({
      status: 200,
    });
    const inSync = (cert: IssuedCertificate, ca: string) =>
      until('standby in sync', async () => {
        const r = await admin(redundant, cert, ca, '/v1/status');
        return (r.body.replication as { state?: string } | undefined)?.state === 'in-sync';
      });
    await inSync(operator1, ca1.certPem);

    // The clients' bundle, as a mounted ConfigMap would give it: read again for each request.
    const clientCaFile = path.join(fx.dir, 'client-ca.crt');
    const publish = (text: string) => {
      fs.writeFileSync(`${clientCaFile}.tmp`, text);
      fs.renameSync(`${clientCaFile}.tmp`, clientCaFile);
    };
    publish(ca1.certPem);
    const newClient = (id: string) => {
      const c = new LicenseClient({
        addresses: primary.clientUrl,
        ca: () => fs.readFileSync(clientCaFile),
        clientId: id,
        user: 'u',
        host: 'h',
        autoRenew: false,
      });
      clients.push(c);
      return c;
    };

    let calls = 0;
    const refused: string[] = [];
    let stop = false;
    const held: { client: LicenseClient; lease: LeaseJson }[] = [];
    for (let i = 0; i < 5; i++) {
      const client = newClient(`holder-${i}`);
      held.push({ client, lease: await client.checkout('sim') });
    }
    const worker = async (c: LicenseClient): Promise<void> => {
      while (!stop) {
        try {
          const lease = await c.checkout('sim');
          await c.renew(lease.id);
          await c.release(lease.id);
          calls += 3;
        } catch (err) {
          refused.push(String(err));
        }
      }
    };
    const renewHeld = async (): Promise<void> => {
      while (!stop) {
        for (const h of held)
          try {
            await h.client.renew(h.lease.id);
            calls += 1;
          } catch (err) {
            refused.push(String(err));
          }
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const loops = [...[0, 1, 2, 3].map((i) => worker(newClient(`worker-${i}`))), renewHeld()];
    const progress = (n: number) => {
      const target = calls + n;
      return until(`${n} more calls`, () => calls >= target || refused.length > 0, 30_000);
    };

    await progress(100);
    // 1. new serving certificates from the same CA
    await rotate(ca1, ca1.certPem);
    await progress(100);
    // 2. the new CA joins the bundle: members first (they check each other and the operator), then clients
    const overlap = addToBundle(ca1.certPem, ca2.certPem, new Date());
    await rotate(undefined, overlap);
    publish(overlap);
    await progress(100);
    // 3. certificates from the new CA
    await rotate(ca2, overlap);
    await progress(100);
    // 4. the old CA leaves the bundle
    const only2 = removeFromBundle(overlap, ca1.certPem);
    publish(only2);
    await rotate(undefined, only2);
    await progress(100);
    stop = true;
    await Promise.all(loops);

    const operator2 = await operatorCert(ca2);
    const leases = (await admin(primary, operator2, only2, '/v1/admin/leases')).body.leases as {
      id: string;
    }[];
    const lost = held.filter((h) => !leases.some((l) => l.id === h.lease.id)).length;
    for (const h of held) expect((await h.client.renew(h.lease.id)).id).toBe(h.lease.id);
    const connections = clients.reduce(
      (n, c) => n + [...c.connectionsOpened.values()].reduce((a, b) => a + b, 0),
      0,
    );
    // the clients' bundle changed twice: their later calls went over new handshakes
    expect(connections).toBeGreaterThan(clients.length);
    console.log(
      `rotation under load: ${calls} calls, ${refused.length} refused, ${lost} of ${held.length} held leases lost, ` +
        `${connections} client connections opened, ` +
        `reloads: primary ${primary.logged('tls: certificates reloaded')}, redundant ${redundant.logged('tls: certificates reloaded')}`,
    );
    expect(refused).toEqual([]);
    expect(lost).toBe(0);

    // The old CA is no longer trusted: its operator certificate is refused, the new one admitted.
    expect(await admin(primary, operator1, only2, '/v1/status')).toMatchObject({ status: 401 });
    expect(await admin(primary, operator2, only2, '/v1/status')).toMatchObject({ status: 200 });
    // New handshakes between the members work with the new CA alone: a restarted standby catches up.
    await redundant.stop();
    await redundant.start(primary, only2);
    await inSync(operator2, only2);
  });
});
