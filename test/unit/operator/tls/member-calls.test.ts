import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createSecureContext, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePair } from '../../../../src/api/pair-parse.ts';
import type { LicenseServerPair } from '../../../../src/api/pair.ts';
import { desiredPod } from '../../../../src/operator/member-pod-spec.ts';
import { isCertificateRefusal } from '../../../../src/operator/member-call-error.ts';
import { statusCheck } from '../../../../src/operator/member-client.ts';
import { certificateCondition } from '../../../../src/operator/tls/certificate-condition.ts';
import { memberAdminBaseUrl, memberCallTls } from '../../../../src/operator/tls/member-endpoint.ts';
import { issueCertificateAuthority } from '../../../../src/tls/certificate-authority.ts';
import { issueOperatorCertificate } from '../../../../src/tls/client-certificate.ts';
import { identitiesOf } from '../../../../src/tls/identity.ts';
import { issueMemberCertificate } from '../../../../src/tls/member-certificate.ts';

// A real TLS server on loopback with a member certificate, as the reference server serves its
// admin port: the operator's calls verify the member's identity (the pod IP it dials is in no
// certificate) and present the operator's client certificate.
const DAY = 86_400_000;
let server: https.Server;
let url = '';
let operatorContext: ReturnType<typeof createSecureContext>;
let untrustingContext: ReturnType<typeof createSecureContext>;
const callers: string[] = [];
const TLS_POD = { metadata: { labels: { 'lpo.dev/tls': 'true' } } };

function pairOf(tls: 'Operator' | 'Disabled' = 'Operator'): LicenseServerPair {
  return parsePair({
    apiVersion: 'lpo.dev/v1alpha1',
    kind: 'LicenseServerPair',
    metadata: { name: 'eda', namespace: 'lic', uid: 'u1' },
    spec: { server: { license: { secretName: 'l' } }, tls: { mode: tls } },
  });
}

beforeAll(async () => {
  const ca = await issueCertificateAuthority({ commonName: 'test CA', lifetimeMs: 10 * DAY });
  const stranger = await issueCertificateAuthority({ commonName: 'stranger CA', lifetimeMs: 10 * DAY });
  const member = await issueMemberCertificate(ca.authority, {
    pairId: 'lic/eda',
    member: 'primary',
    dnsNames: ['eda-primary.lic.svc'],
    lifetimeMs: DAY,
  });
  const op = await issueOperatorCertificate(ca.authority, { lifetimeMs: DAY });
  operatorContext = createSecureContext({ ca: ca.certPem, cert: op.certPem, key: op.keyPem });
  untrustingContext = createSecureContext({ ca: stranger.certPem, cert: op.certPem, key: op.keyPem });
  server = https.createServer(
    {
      cert: member.certPem,
      key: member.keyPem,
      ca: ca.certPem,
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      callers.push(
        identitiesOf(peer)
          .map((i) => i.kind)
          .join(','),
      );
      res.end(JSON.stringify({ role: 'active', epoch: 3, replication: { state: 'in-sync' } }));
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('operator calls to a TLS member', () => {
  it('dial https to a pod made to serve TLS, http to one made without (TLS off, or before TLS)', () => {
    const tlsPod = desiredPod(pairOf(), 'primary');
    const plainPod = desiredPod(pairOf('Disabled'), 'primary');
    expect(memberAdminBaseUrl(pairOf(), tlsPod, '10.0.0.7')).toBe('https://10.0.0.7:7071');
    expect(memberAdminBaseUrl(pairOf('Disabled'), plainPod, 'fd00::7')).toBe('http://[fd00::7]:7071');
    expect(memberCallTls(pairOf('Disabled'), 'primary', plainPod, () => operatorContext)).toBeUndefined();
    // An operator upgrade: the spec now says TLS, the running pod was made plaintext.
    const olderPod = { metadata: { labels: { 'lpo.dev/member': 'primary' } } };
    expect(memberAdminBaseUrl(pairOf(), olderPod, '10.0.0.7')).toBe('http://10.0.0.7:7071');
    expect(memberCallTls(pairOf(), 'primary', olderPod, () => operatorContext)).toBeUndefined();
  });

  it('reach the member that proves the identity they expect, presenting the operator’s certificate', async () => {
    const tls = memberCallTls(pairOf(), 'primary', TLS_POD, () => operatorContext)!;
    const r = await statusCheck(url, { tls }, 2000);
    expect(r.result.ok).toBe(true);
    expect(r.status).toMatchObject({ role: 'active', epoch: 3 });
    expect(callers.at(-1)).toBe('operator');
  });

  it('fail when the certificate is another member’s (a pod IP reused by another pair’s member)', async () => {
    const tls = memberCallTls(pairOf(), 'redundant', TLS_POD, () => operatorContext)!;
    const r = await statusCheck(url, { tls }, 2000);
    expect(r.result.ok).toBe(false);
    expect(r.result.message).toBe(
      'the certificate names member primary of pair lic/eda, not member redundant of pair lic/eda',
    );
  });

  it('fail on a certificate of a CA the operator does not trust, and without a context yet', async () => {
    const r = await statusCheck(
      url,
      { tls: memberCallTls(pairOf(), 'primary', TLS_POD, () => untrustingContext)! },
      2000,
    );
    expect(r.result.ok).toBe(false);
    expect(r.result.message).toMatch(
      /^TLS: .*certificate.*\(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE\)/,
    );
    // the reconciler reads it as a refusal on trust (a provided pair's Secrets are read again)
    expect(isCertificateRefusal(r.result.message)).toBe(true);
    const none = await statusCheck(
      url,
      { tls: memberCallTls(pairOf(), 'primary', TLS_POD, () => undefined)! },
      2000,
    );
    expect(none.result).toMatchObject({ ok: false, message: expect.stringContaining('no TLS context') });
    expect(isCertificateRefusal(none.result.message)).toBe(false);
  });
});

describe('CertificatesReady', () => {
  it('warns about a plaintext opt-out, reports a failed issue, and says until when certificates hold', () => {
    expect(certificateCondition(pairOf('Disabled'), undefined)).toMatchObject({
      status: 'False',
      reason: 'PlaintextOptOut',
    });
    expect(certificateCondition(pairOf(), { ok: false, message: 'secrets is forbidden' })).toMatchObject({
      status: 'False',
      reason: 'IssueFailed',
      message: expect.stringContaining('secrets is forbidden'),
    });
    const expires = {
      primary: new Date('2030-02-01T00:00:00Z'),
      redundant: new Date('2030-01-20T00:00:00Z'),
    };
    expect(
      certificateCondition(pairOf(), { ok: true, expires, renewAt: new Date('2030-01-10T00:00:00Z') }),
    ).toEqual({
      type: 'CertificatesReady',
      status: 'True',
      reason: 'Issued',
      message:
        'member certificates valid until 2030-01-20T00:00:00.000Z; renewed from 2030-01-10T00:00:00.000Z',
    });
  });
});
