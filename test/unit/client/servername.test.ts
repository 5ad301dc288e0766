import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Transport } from '../../../src/client/transport.ts';
import { issueCertificateAuthority } from '../../../src/tls/certificate-authority.ts';
import { issueServingCertificate } from '../../../src/tls/serving-certificate.ts';

// A client outside the cluster dials a Service's cluster IP, which no certificate of the pair
// holds: it names the Service host to verify instead (a real TLS server on loopback).
let server: https.Server;
let address = '';
let ca = '';

beforeAll(async () => {
  const authority = await issueCertificateAuthority({ commonName: 'test CA', lifetimeMs: 86_400_000 });
  ca = authority.certPem;
  const cert = await issueServingCertificate(authority.authority, {
    dnsNames: ['eda.lic.svc'],
    lifetimeMs: 86_400_000,
  });
  server = https.createServer({ cert: cert.certPem, key: cert.keyPem }, (_req, res) =>
    res.end('{"ok":true}'),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  address = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('servername', () => {
  it('verifies the certificate against the name given, not the IP dialled', async () => {
    const t = new Transport({ ca, servername: 'eda.lic.svc' });
    expect(await t.post(address, '/v1/features', {}, { timeoutMs: 2000 })).toEqual({
      kind: 'answer',
      status: 200,
      body: { ok: true },
    });
    t.close();
  });

  it('without it, the IP is checked and refused (a name mismatch, not a retry)', async () => {
    const t = new Transport({ ca });
    const o = await t.post(address, '/v1/features', {}, { timeoutMs: 2000 });
    expect(o).toMatchObject({ kind: 'failure', tls: { code: 'TLS_NAME_MISMATCH' } });
    const wrong = new Transport({ ca, servername: 'other.lic.svc' });
    expect(await wrong.post(address, '/v1/features', {}, { timeoutMs: 2000 })).toMatchObject({
      kind: 'failure',
      tls: { code: 'TLS_NAME_MISMATCH' },
    });
    t.close();
    wrong.close();
  });
});
