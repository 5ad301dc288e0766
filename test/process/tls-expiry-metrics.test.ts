// A real member process exports when its TLS certificate and CA bundle expire, and the gauges
// follow a rotation of its mounted Secret (the kubelet's ..data swap, read by the reload timer).
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { samplesOf } from '../../src/cli/probe-metrics.ts';
import { TLS_CA_EXPIRY_METRIC, TLS_CERTIFICATE_EXPIRY_METRIC } from '../../src/license-server/tls-metrics.ts';
import { issueCertificateAuthority } from '../../src/tls/certificate-authority.ts';
import { issueMemberCertificate } from '../../src/tls/member-certificate.ts';
import { PAIR_ID, feature, makeFixture } from '../unit/license-server/fixtures.ts';
import type { Fixture } from '../unit/license-server/fixtures.ts';
import { ServerProcess, until } from './harness.ts';
import { DAY, TlsMember, memberCert, newCa, tlsMemberSpec } from './tls-members.ts';
import type { Ca } from './tls-members.ts';

const notAfterSeconds = (pem: string): number => new X509Certificate(pem).validToDate.getTime() / 1000;

async function scrape(metricsPort: number): Promise<Record<string, number | undefined>> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  return {
    certificate: samplesOf(text, TLS_CERTIFICATE_EXPIRY_METRIC)[0]?.value,
    ca: samplesOf(text, TLS_CA_EXPIRY_METRIC)[0]?.value,
  };
}

describe('TLS expiry metrics of a member process', () => {
  let fx: Fixture;
  let ca: Ca;
  let m: TlsMember;

  beforeAll(async () => {
    fx = makeFixture([feature('sim', 2)]);
    ca = await newCa('pair CA');
    m = await TlsMember.create(tlsMemberSpec(fx, 'primary'));
  }, 60_000);
  afterAll(async () => {
    await m?.stop();
    fx?.cleanup();
  });

  it("equal the loaded certificate's notAfter and the CA's, and change after a rotation", async () => {
    const first = await memberCert(ca, PAIR_ID, 'primary');
    m.secret.write({ cert: first.certPem, key: first.keyPem, ca: ca.certPem });
    await m.start(undefined, ca.certPem);
    expect(await scrape(m.ports.metrics)).toEqual({
      certificate: notAfterSeconds(first.certPem),
      ca: notAfterSeconds(ca.certPem),
    });

    // renewed with a longer life, and a second CA in the bundle that expires sooner
    const soonerCa = await issueCertificateAuthority({ commonName: 'sooner CA', lifetimeMs: 10 * DAY });
    const renewed = await issueMemberCertificate(ca.authority, {
      pairId: PAIR_ID,
      member: 'primary',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      lifetimeMs: 7 * DAY,
    });
    m.secret.write({ cert: renewed.certPem, key: renewed.keyPem, ca: ca.certPem + soonerCa.certPem });
    const after = await until('the rotated certificate in the metrics', async () => {
      const s = await scrape(m.ports.metrics);
      return s.certificate === notAfterSeconds(renewed.certPem) && s;
    });
    expect(after.ca).toBe(notAfterSeconds(soonerCa.certPem));
    expect(after.certificate).toBeGreaterThan(notAfterSeconds(first.certPem));
    expect(m.logged('tls: certificates reloaded')).toBe(1);
  });
});

describe('a plaintext member', () => {
  it('has no TLS expiry metrics', async () => {
    const fx = makeFixture([feature('sim', 2)]);
    const p = await ServerProcess.create({
      name: 'plain',
      pairId: PAIR_ID,
      licenceFile: fx.licenceFile,
      publicKeyFile: fx.publicKeyFile,
      tokenFile: fx.tokenFile,
      stateDir: fx.stateDir('plain'),
      logDir: fx.dir,
    });
    try {
      await p.start();
      const text = await (await fetch(`${p.metricsUrl}/metrics`)).text();
      expect(text).toContain('license_server_active_leases');
      expect(text).not.toContain('license_server_tls_');
    } finally {
      await p.stop();
      fx.cleanup();
    }
  });
});
