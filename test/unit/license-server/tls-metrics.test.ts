// The member's certificate-expiry gauges: the notAfter of the certificate in force and the
// earliest notAfter of its CA bundle, following a rotation of the files, and absent with TLS off.
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../../src/license-server/main.ts';
import type { RunningServer } from '../../../src/license-server/main.ts';
import {
  TLS_CA_EXPIRY_METRIC,
  TLS_CERTIFICATE_EXPIRY_METRIC,
} from '../../../src/license-server/tls-metrics.ts';
import { issueCertificateAuthority } from '../../../src/tls/certificate-authority.ts';
import type { IssuedCertificate } from '../../../src/tls/issued.ts';
import { issueMemberCertificate } from '../../../src/tls/member-certificate.ts';
import { PAIR_ID, makeFixture, testConfig } from './fixtures.ts';
import type { Fixture } from './fixtures.ts';

const DAY = 86_400_000;
type Ca = Awaited<ReturnType<typeof issueCertificateAuthority>>;

/** notAfter as the member reads it from the PEM, in unix seconds. */
const notAfterSeconds = (pem: string): number => new X509Certificate(pem).validToDate.getTime() / 1000;

const member = (ca: Ca, lifetimeMs: number): Promise<IssuedCertificate> =>
  issueMemberCertificate(ca.authority, {
    pairId: PAIR_ID,
    member: 'primary',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
    lifetimeMs,
  });

async function gauge(s: RunningServer, name: string): Promise<number | undefined> {
  const metric = s.member.metrics.registry.getSingleMetric(name);
  return metric ? (await metric.get()).values[0]?.value : undefined;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('TLS expiry gauges', () => {
  let fx: Fixture;
  let s: RunningServer;
  let oldCa: Ca;
  let newCa: Ca;
  let first: IssuedCertificate;
  const files = () => ({
    certFile: path.join(fx.dir, 'tls.crt'),
    keyFile: path.join(fx.dir, 'tls.key'),
    caFile: path.join(fx.dir, 'ca.crt'),
  });
  const write = (cert: IssuedCertificate, bundle: string): void => {
    const f = files();
    fs.writeFileSync(f.keyFile, cert.keyPem);
    fs.writeFileSync(f.certFile, cert.certPem);
    fs.writeFileSync(f.caFile, bundle);
  };

  beforeAll(async () => {
    fx = makeFixture();
    oldCa = await issueCertificateAuthority({ commonName: 'old CA', lifetimeMs: 30 * DAY });
    newCa = await issueCertificateAuthority({ commonName: 'new CA', lifetimeMs: 90 * DAY });
    first = await member(oldCa, DAY);
    write(first, oldCa.certPem);
    s = await startServer(testConfig(fx, { tls: { ...files(), reloadMs: 50 } }));
  });
  afterAll(async () => {
    await s?.close();
    fx?.cleanup();
  });

  it("equal the certificate's and the CA's notAfter, in unix seconds, on the metrics port", async () => {
    expect(await gauge(s, TLS_CERTIFICATE_EXPIRY_METRIC)).toBe(notAfterSeconds(first.certPem));
    expect(await gauge(s, TLS_CA_EXPIRY_METRIC)).toBe(notAfterSeconds(oldCa.certPem));
    expect(Math.abs(notAfterSeconds(first.certPem) - first.notAfter.getTime() / 1000)).toBeLessThan(1);
    const text = await (await fetch(`http://127.0.0.1:${s.ports.metrics}/metrics`)).text();
    expect(text).toContain(`# TYPE ${TLS_CERTIFICATE_EXPIRY_METRIC} gauge`);
    expect(text).toContain(`${TLS_CERTIFICATE_EXPIRY_METRIC} ${notAfterSeconds(first.certPem)}\n`);
    expect(text).toContain(`${TLS_CA_EXPIRY_METRIC} ${notAfterSeconds(oldCa.certPem)}\n`);
  });

  it('follow a renewed certificate once the files are reloaded', async () => {
    const renewed = await member(oldCa, 2 * DAY);
    write(renewed, oldCa.certPem);
    const want = notAfterSeconds(renewed.certPem);
    expect(want).toBeGreaterThan(notAfterSeconds(first.certPem));
    await until('the renewed notAfter', async () =>
      (await gauge(s, TLS_CERTIFICATE_EXPIRY_METRIC)) === want ? true : undefined,
    );
    expect(await gauge(s, TLS_CA_EXPIRY_METRIC)).toBe(notAfterSeconds(oldCa.certPem));
  });

  it('during a CA rotation the CA gauge is the earliest of the bundle, then the new CA alone', async () => {
    const byNew = await member(newCa, 3 * DAY);
    write(byNew, oldCa.certPem + newCa.certPem);
    await until('the certificate of the new CA', async () =>
      (await gauge(s, TLS_CERTIFICATE_EXPIRY_METRIC)) === notAfterSeconds(byNew.certPem) ? true : undefined,
    );
    expect(await gauge(s, TLS_CA_EXPIRY_METRIC)).toBe(notAfterSeconds(oldCa.certPem));
    write(byNew, newCa.certPem);
    await until('the bundle without the old CA', async () =>
      (await gauge(s, TLS_CA_EXPIRY_METRIC)) === notAfterSeconds(newCa.certPem) ? true : undefined,
    );
  });

  it('a set that is refused leaves the gauges at the set in force', async () => {
    const before = await gauge(s, TLS_CERTIFICATE_EXPIRY_METRIC);
    const other = await member(oldCa, 5 * DAY);
    fs.writeFileSync(files().certFile, other.certPem); // the key stays the previous certificate's
    await new Promise((r) => setTimeout(r, 300));
    expect(await gauge(s, TLS_CERTIFICATE_EXPIRY_METRIC)).toBe(before);
  });
});

describe('with TLS off', () => {
  it('the gauges are absent', async () => {
    const fx = makeFixture();
    const s = await startServer(testConfig(fx));
    try {
      const text = await (await fetch(`http://127.0.0.1:${s.ports.metrics}/metrics`)).text();
      expect(text).toContain('license_server_active_leases');
      expect(text).not.toContain('license_server_tls_');
    } finally {
      await s.close();
      fx.cleanup();
    }
  });
});
