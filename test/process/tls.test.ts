// A pair of real member processes with TLS on: who may call what on the admin port (the
// operator's certificate, the peer's, another pair's), plaintext refused, replication over mutual
// TLS, and the client's errors for a certificate it cannot accept.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LicenseClient, TlsCertificateError } from '../../src/client/client.ts';
import type { IssuedCertificate } from '../../src/tls/issued.ts';
import { PAIR_ID, feature, makeFixture } from '../unit/license-server/fixtures.ts';
import type { Fixture } from '../unit/license-server/fixtures.ts';
import { until } from './harness.ts';
import {
  DAY,
  TlsMember,
  call,
  memberCert,
  newCa,
  operatorCert,
  promoteAsOperator,
  tlsMemberSpec,
} from './tls-members.ts';
import type { Ca } from './tls-members.ts';

describe('a pair with TLS on', () => {
  let fx: Fixture;
  let ca: Ca;
  let primary: TlsMember;
  let redundant: TlsMember;
  let operator: IssuedCertificate;
  let redundantCert: IssuedCertificate;
  let otherPairMember: IssuedCertificate;
  let strangerCa: Ca;
  const clients: LicenseClient[] = [];

  const spec = (name: string) => tlsMemberSpec(fx, name);

  beforeAll(async () => {
    fx = makeFixture([feature('sim', 20)]);
    ca = await newCa('pair CA');
    strangerCa = await newCa('another CA');
    operator = await operatorCert(ca);
    redundantCert = await memberCert(ca, PAIR_ID, 'redundant');
    otherPairMember = await memberCert(ca, 'licensing/other-pair', 'redundant');
    primary = await TlsMember.create(spec('primary'));
    redundant = await TlsMember.create(spec('redundant'));
    const primaryCert = await memberCert(ca, PAIR_ID, 'primary');
    primary.secret.write({ cert: primaryCert.certPem, key: primaryCert.keyPem, ca: ca.certPem });
    redundant.secret.write({ cert: redundantCert.certPem, key: redundantCert.keyPem, ca: ca.certPem });
    await Promise.all([primary.start(redundant, ca.certPem), redundant.start(primary, ca.certPem)]);
    const promoted = await promoteAsOperator(primary, { ca: ca.certPem, operator, token: fx.token });
    expect(promoted).toMatchObject({ status: 200 });
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all([primary?.stop(), redundant?.stop()]);
    fx?.cleanup();
  });

  const status = (m: TlsMember, cert?: IssuedCertificate) =>
    call(m.adminUrl, '/v1/status', { ca: ca.certPem, token: fx.token, ...(cert ? { cert } : {}) });

  it('the standby follows the active over mutual TLS (each member presents its certificate and checks the other)', async () => {
    await until('standby in sync over TLS', async () => {
      const r = await status(redundant, operator);
      return r.status === 200 && (r.body.replication as { state: string }).state === 'in-sync';
    });
    expect((await status(primary, operator)).body.role).toBe('active');
  });

  it('refuses plaintext on the licence and admin ports, and says why in its log', async () => {
    for (const port of [primary.ports.licences, primary.ports.admin])
      await expect(
        fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(5000) }),
      ).rejects.toThrow();
    await until('the refusal in the log', () =>
      primary.log().includes('a plaintext HTTP request on a TLS port (the caller must use https://)'),
    );
  });

  it("admits the operator's certificate on the admin endpoints and refuses a member's, none, and another CA's", async () => {
    expect(await status(primary, operator)).toMatchObject({ status: 200 });
    const promote = (cert?: IssuedCertificate) =>
      call(primary.adminUrl, '/v1/admin/promote', {
        ca: ca.certPem,
        token: fx.token,
        method: 'POST',
        body: { epoch: 5 },
        ...(cert ? { cert } : {}),
      });
    const byMember = await promote(redundantCert);
    expect(byMember.status).toBe(403);
    expect(byMember.body).toMatchObject({ code: 'FORBIDDEN' });
    expect(byMember.body.message).toMatch(
      /names member redundant of pair licensing\/eda-tools; this endpoint admits only the operator/,
    );
    const none = await promote();
    expect(none).toMatchObject({ status: 401, body: { code: 'UNAUTHORIZED' } });
    expect(none.body.message).toMatch(/a client certificate is required/);
    const foreign = await promote(await operatorCert(strangerCa));
    expect(foreign).toMatchObject({ status: 401, body: { code: 'UNAUTHORIZED' } });
    expect(foreign.body.message).toMatch(/not trusted/);
    // nothing was promoted: the epoch is still 1
    expect((await status(primary, operator)).body.epoch).toBe(1);
    await until('the refusal in the log', () => primary.logged('tls: caller refused') >= 3);
    // Health stays open to the kubelet's probes, which carry no certificate.
    expect(await call(primary.adminUrl, '/readyz', { ca: ca.certPem })).toMatchObject({ status: 200 });
  });

  it("refuses replication from another pair's member and from the operator, and admits this pair's peer", async () => {
    const snapshot = (cert: IssuedCertificate) =>
      call(primary.adminUrl, '/v1/replication/snapshot', { ca: ca.certPem, cert, token: fx.token });
    const stream = (cert: IssuedCertificate) =>
      call(primary.adminUrl, '/v1/replication/stream?after=0&afterEpoch=0', {
        ca: ca.certPem,
        cert,
        token: fx.token,
        headers: { connection: 'Upgrade', upgrade: 'lsp-replication/1' },
      });
    const other = await snapshot(otherPairMember);
    expect(other).toMatchObject({ status: 403, body: { code: 'FORBIDDEN' } });
    expect(other.body.message).toMatch(
      /member redundant of pair licensing\/other-pair.*admits only this pair's other member/,
    );
    expect(await stream(otherPairMember)).toMatchObject({ status: 403, body: { code: 'FORBIDDEN' } });
    expect(await snapshot(operator)).toMatchObject({ status: 403 });
    expect(await snapshot(redundantCert)).toMatchObject({ status: 200 });
    expect(await stream(redundantCert)).toMatchObject({ status: 101 });
  });

  it('serves LicenseClient over TLS with the CA bundle, without a client certificate', async () => {
    const c = new LicenseClient({
      addresses: primary.clientUrl,
      ca: ca.certPem,
      clientId: 'tls-ok',
      user: 'u',
      host: 'h',
      autoRenew: false,
    });
    clients.push(c);
    const lease = await c.checkout('sim');
    expect(lease.feature).toBe('sim');
    await c.release(lease.id);
  });

  it("the client's error for a CA it was not given says so and names the fix, at once (no retries)", async () => {
    const wrongCa = new LicenseClient({
      addresses: primary.clientUrl,
      ca: strangerCa.certPem,
      clientId: 'tls-bad',
      user: 'u',
      host: 'h',
      autoRenew: false,
    });
    const noCa = new LicenseClient({
      addresses: primary.clientUrl,
      clientId: 'tls-none',
      user: 'u',
      host: 'h',
      autoRenew: false,
    });
    clients.push(wrongCa, noCa);
    const t0 = performance.now();
    const err = await wrongCa.checkout('sim').catch((e: unknown) => e);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(err).toBeInstanceOf(TlsCertificateError);
    expect(err).toMatchObject({ code: 'TLS_UNTRUSTED', tlsCode: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    expect((err as Error).message).toMatch(/is not signed by the CA you gave \(the ca option, --ca\)/);
    expect((err as Error).message).toMatch(/ca\.crt of its ConfigMap <pair>-ca/);
    console.log(`client error, wrong CA: ${(err as Error).message}`);
    const err2 = await noCa.checkout('sim').catch((e: unknown) => e);
    expect(err2).toMatchObject({ code: 'TLS_UNTRUSTED' });
    expect((err2 as Error).message).toMatch(/give the pair's CA bundle as the ca option \(--ca FILE\)/);
  });

  it("no private key or token in the members' logs", () => {
    for (const m of [primary, redundant]) {
      const log = m.log();
      expect(log).not.toContain('PRIVATE KEY');
      expect(log).not.toContain(fx.token);
      expect(log).toContain('"msg":"tls: certificates loaded"');
    }
  });
});

describe('a member whose certificate has expired', () => {
  it('starts, warns in its log, and the client says the certificate expired and what to check', async () => {
    const fx = makeFixture([feature('sim', 2)]);
    const ca = await newCa('pair CA');
    const m = await TlsMember.create(tlsMemberSpec(fx, 'primary'));
    const c = new LicenseClient({
      addresses: m.clientUrl,
      ca: ca.certPem,
      clientId: 'x',
      user: 'u',
      host: 'h',
      autoRenew: false,
    });
    try {
      const expired = await memberCert(ca, PAIR_ID, 'primary', new Date(Date.now() - 2 * DAY));
      m.secret.write({ cert: expired.certPem, key: expired.keyPem, ca: ca.certPem });
      await m.start(undefined, ca.certPem, false);
      expect(m.log()).toContain('tls: the certificate has expired');
      const err = await c.checkout('sim').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TlsCertificateError);
      expect(err).toMatchObject({ code: 'TLS_EXPIRED', tlsCode: 'CERT_HAS_EXPIRED' });
      expect((err as Error).message).toMatch(/has expired .*not renewed in time/);
    } finally {
      c.close();
      await m.stop();
      fx.cleanup();
    }
  });
});
