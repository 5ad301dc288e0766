import { X509Certificate, createPrivateKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  issueCertificateAuthority,
  loadCertificateAuthority,
} from '../../../src/tls/certificate-authority.ts';
import { issueOperatorCertificate } from '../../../src/tls/client-certificate.ts';
import { identitiesOfPem, memberIdentity } from '../../../src/tls/identity.ts';
import { issueMemberCertificate } from '../../../src/tls/member-certificate.ts';
import { issueServingCertificate } from '../../../src/tls/serving-certificate.ts';

const DAY = 86_400_000;
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

describe('issuing certificates', () => {
  it('a CA is self-signed, a CA, valid for its lifetime, and its PEM files load back for issuing', async () => {
    const now = new Date('2030-01-01T00:00:00Z');
    const ca = await issueCertificateAuthority({ commonName: 'lpo test CA', lifetimeMs: 30 * DAY, now });
    const cert = new X509Certificate(ca.certPem);
    expect(cert.ca).toBe(true);
    expect(cert.subject).toBe('CN=lpo test CA');
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(new Date(cert.validTo).getTime()).toBe(now.getTime() + 30 * DAY);
    expect(new Date(cert.validFrom).getTime()).toBeLessThan(now.getTime());
    expect(cert.checkPrivateKey(createPrivateKey(ca.keyPem))).toBe(true);
    expect(ca.fingerprint256).toBe(cert.fingerprint256);

    const loaded = await loadCertificateAuthority(ca.certPem, ca.keyPem);
    const leaf = await issueServingCertificate(loaded, { dnsNames: ['a.example'], lifetimeMs: DAY });
    expect(new X509Certificate(leaf.certPem).verify(cert.publicKey)).toBe(true);
  });

  it('loading a CA refuses a leaf certificate and a key of another CA', async () => {
    const ca = await issueCertificateAuthority({ commonName: 'one', lifetimeMs: DAY });
    const other = await issueCertificateAuthority({ commonName: 'two', lifetimeMs: DAY });
    const leaf = await issueServingCertificate(ca.authority, { dnsNames: ['x'], lifetimeMs: DAY });
    await expect(loadCertificateAuthority(leaf.certPem, leaf.keyPem)).rejects.toThrow(/not a CA certificate/);
    await expect(loadCertificateAuthority(ca.certPem, other.keyPem)).rejects.toThrow(/does not belong/);
  });

  it('a member certificate serves its names and addresses and carries the member identity for both purposes', async () => {
    const ca = await issueCertificateAuthority({ commonName: 'ca', lifetimeMs: 10 * DAY });
    const m = await issueMemberCertificate(ca.authority, {
      pairId: 'licensing/eda-tools',
      member: 'primary',
      dnsNames: ['eda-tools-primary.licensing.svc', 'eda-tools.licensing.svc'],
      ipAddresses: ['127.0.0.1', '::1'],
      lifetimeMs: DAY,
    });
    const cert = new X509Certificate(m.certPem);
    expect(cert.ca).toBe(false);
    expect(cert.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
    expect(cert.checkHost('eda-tools.licensing.svc')).toBe('eda-tools.licensing.svc');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkIP('::1')).toBe('::1');
    expect(cert.checkHost('other.licensing.svc')).toBeUndefined();
    expect(cert.keyUsage?.sort()).toEqual([SERVER_AUTH, CLIENT_AUTH].sort());
    expect(identitiesOfPem(m.certPem)).toEqual([
      { kind: 'member', namespace: 'licensing', pair: 'eda-tools', member: 'primary' },
    ]);
    expect(cert.subjectAltName).toContain(`URI:${memberIdentity('licensing/eda-tools', 'primary')}`);
  });

  it('the operator certificate is for client authentication only and names the operator', async () => {
    const ca = await issueCertificateAuthority({ commonName: 'ca', lifetimeMs: DAY });
    const op = await issueOperatorCertificate(ca.authority, { lifetimeMs: DAY });
    const cert = new X509Certificate(op.certPem);
    expect(cert.keyUsage).toEqual([CLIENT_AUTH]);
    expect(identitiesOfPem(op.certPem)).toEqual([{ kind: 'operator' }]);
  });

  it('a leaf never outlives its CA, and refuses requests that would make a useless certificate', async () => {
    const ca = await issueCertificateAuthority({ commonName: 'ca', lifetimeMs: DAY });
    const long = await issueServingCertificate(ca.authority, { dnsNames: ['x'], lifetimeMs: 30 * DAY });
    expect(long.notAfter.getTime()).toBe(new Date(new X509Certificate(ca.certPem).validTo).getTime());
    await expect(issueServingCertificate(ca.authority, { lifetimeMs: DAY })).rejects.toThrow(
      /DNS name or an IP/,
    );
    await expect(
      issueServingCertificate(ca.authority, { ipAddresses: ['host.example'], lifetimeMs: DAY }),
    ).rejects.toThrow(/not an IP address/);
    await expect(issueServingCertificate(ca.authority, { dnsNames: ['x'], lifetimeMs: 0 })).rejects.toThrow(
      /positive/,
    );
  });
});
