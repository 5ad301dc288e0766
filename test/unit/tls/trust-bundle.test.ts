import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { issueCertificateAuthority } from '../../../src/tls/certificate-authority.ts';
import { issueServingCertificate } from '../../../src/tls/serving-certificate.ts';
import { addToBundle, bundleEntries, bundleHolds, removeFromBundle } from '../../../src/tls/trust-bundle.ts';

const DAY = 86_400_000;
const newCa = (name: string, now?: Date) =>
  issueCertificateAuthority({ commonName: name, lifetimeMs: DAY, ...(now ? { now } : {}) });

/** A real handshake: a server with `cert`, a client trusting `ca`; the client's verdict. */
async function handshake(cert: { certPem: string; keyPem: string }, ca: string): Promise<string> {
  const server = tls.createServer({ cert: cert.certPem, key: cert.keyPem }, (s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    return await new Promise<string>((resolve) => {
      const socket = tls.connect({
        port: (server.address() as AddressInfo).port,
        host: '127.0.0.1',
        ca,
        servername: 'svc.example',
      });
      socket.once('secureConnect', () => {
        resolve('trusted');
        socket.destroy();
      });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
  } finally {
    await new Promise((r) => server.close(r));
  }
}

describe('trust bundle', () => {
  it('during a rotation it holds old and new CA, and certificates of either are trusted; after it, only the new', async () => {
    const oldCa = await newCa('old');
    const nextCa = await newCa('new');
    const byOld = await issueServingCertificate(oldCa.authority, {
      dnsNames: ['svc.example'],
      lifetimeMs: DAY,
    });
    const byNew = await issueServingCertificate(nextCa.authority, {
      dnsNames: ['svc.example'],
      lifetimeMs: DAY,
    });

    const overlap = addToBundle(oldCa.certPem, nextCa.certPem, new Date());
    expect(bundleEntries(overlap).map((e) => e.subject)).toEqual(['CN=new', 'CN=old']);
    expect(bundleHolds(overlap, oldCa.certPem) && bundleHolds(overlap, nextCa.certPem)).toBe(true);
    expect(await handshake(byOld, overlap)).toBe('trusted');
    expect(await handshake(byNew, overlap)).toBe('trusted');
    expect(await handshake(byNew, oldCa.certPem)).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');

    const after = removeFromBundle(overlap, oldCa.certPem);
    expect(bundleEntries(after).map((e) => e.subject)).toEqual(['CN=new']);
    expect(await handshake(byNew, after)).toBe('trusted');
    expect(await handshake(byOld, after)).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });

  it('adding a CA twice keeps it once; expired CAs are dropped; the last CA cannot be removed', async () => {
    const a = await newCa('a');
    const expired = await newCa('expired', new Date(Date.now() - 3 * DAY));
    const bundle = addToBundle(`${expired.certPem}${a.certPem}`, a.certPem, new Date());
    expect(bundleEntries(bundle).map((e) => e.subject)).toEqual(['CN=a']);
    expect(() => removeFromBundle(bundle, a.certPem)).toThrow(/empty/);
  });

  it('refuses a certificate that is not a CA', async () => {
    const a = await newCa('a');
    const leaf = await issueServingCertificate(a.authority, { dnsNames: ['x'], lifetimeMs: DAY });
    expect(() => addToBundle(a.certPem, leaf.certPem, new Date())).toThrow(/not a CA/);
  });
});
