import { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { planCa } from '../../../../src/operator/tls/ca-plan.ts';
import { memberDnsNames } from '../../../../src/operator/tls/member-names.ts';
import {
  planMemberSecret,
  type MemberCertificateWant,
} from '../../../../src/operator/tls/member-secret-plan.ts';
import { issueCertificateAuthority } from '../../../../src/tls/certificate-authority.ts';
import { memberIdentity, parseIdentity, type Identity } from '../../../../src/tls/identity.ts';
import { issueMemberCertificate } from '../../../../src/tls/member-certificate.ts';

const DAY = 86_400_000;
const T0 = new Date('2030-01-01T00:00:00Z');
const at = (days: number) => new Date(T0.getTime() + days * DAY);
const id = (member: string) => parseIdentity(memberIdentity('lic/eda', member)) as Identity;

type Ca = Awaited<ReturnType<typeof issueCertificateAuthority>>;
let ca: Ca;
let otherCa: Ca;

beforeAll(async () => {
  ca = await issueCertificateAuthority({ commonName: 'test CA', lifetimeMs: 3650 * DAY, now: T0 });
  otherCa = await issueCertificateAuthority({ commonName: 'other CA', lifetimeMs: 3650 * DAY, now: T0 });
});

function want(over: Partial<MemberCertificateWant> = {}): MemberCertificateWant {
  return {
    identity: id('primary'),
    dnsNames: memberDnsNames('eda', 'lic', 'primary'),
    caCertPem: ca.certPem,
    bundle: ca.certPem,
    ...over,
  };
}

async function memberCert(
  from: Ca,
  opts: { member?: string; dnsNames?: string[]; lifetimeDays?: number; now?: Date } = {},
) {
  return issueMemberCertificate(from.authority, {
    pairId: 'lic/eda',
    member: opts.member ?? 'primary',
    dnsNames: opts.dnsNames ?? memberDnsNames('eda', 'lic', 'primary'),
    lifetimeMs: (opts.lifetimeDays ?? 30) * DAY,
    now: opts.now ?? T0,
  });
}

describe('member certificate names', () => {
  it('cover the member Service its peer dials and the client Service clients dial, short and long', () => {
    expect(memberDnsNames('eda', 'lic', 'redundant')).toEqual([
      'eda-redundant',
      'eda-redundant.lic',
      'eda-redundant.lic.svc',
      'eda-redundant.lic.svc.cluster.local',
      'eda',
      'eda.lic',
      'eda.lic.svc',
      'eda.lic.svc.cluster.local',
    ]);
    expect(memberDnsNames('eda', 'lic', 'primary', 'corp.example')).toContain('eda.lic.svc.corp.example');
  });
});

describe('a member Secret', () => {
  it('without a certificate (or key, or one that does not parse) gets one issued', async () => {
    expect(planMemberSecret(undefined, want(), T0)).toEqual({ action: 'issue', why: 'no certificate yet' });
    const c = await memberCert(ca);
    expect(planMemberSecret({ cert: c.certPem }, want(), T0).action).toBe('issue');
    expect(planMemberSecret({ cert: 'garbage', key: c.keyPem }, want(), T0)).toMatchObject({
      action: 'issue',
      why: expect.stringContaining('does not parse'),
    });
  });

  it('is kept while valid, from the current CA, for this member, with every name, before two thirds', async () => {
    const c = await memberCert(ca);
    const plan = planMemberSecret({ cert: c.certPem, key: c.keyPem, bundle: ca.certPem }, want(), at(19));
    expect(plan).toEqual({ action: 'keep', notAfter: c.notAfter, renewAt: expect.any(Date) });
    // Renewal at two thirds of its validity (which starts backdated a few minutes).
    const renewAt = (plan as { renewAt: Date }).renewAt.getTime();
    const from = new X509Certificate(c.certPem);
    const start = new Date(from.validFrom).getTime();
    expect(renewAt).toBe(start + ((new Date(from.validTo).getTime() - start) * 2) / 3);
  });

  it('is reissued at two thirds of its lifetime, and once expired', async () => {
    const c = await memberCert(ca);
    const have = { cert: c.certPem, key: c.keyPem, bundle: ca.certPem };
    expect(planMemberSecret(have, want(), at(20.1))).toMatchObject({
      action: 'issue',
      why: expect.stringContaining('due for renewal'),
    });
    expect(planMemberSecret(have, want(), at(31)).action).toBe('issue');
  });

  it('is reissued when another CA issued it (a rotation), another member’s, or a name is missing', async () => {
    const foreign = await memberCert(otherCa);
    expect(planMemberSecret({ cert: foreign.certPem, key: foreign.keyPem }, want(), T0)).toMatchObject({
      action: 'issue',
      why: 'issued by another CA than the current one',
    });
    const redundant = await memberCert(ca, { member: 'redundant' });
    expect(planMemberSecret({ cert: redundant.certPem, key: redundant.keyPem }, want(), T0)).toMatchObject({
      action: 'issue',
      why: 'the certificate names another identity',
    });
    const few = await memberCert(ca, { dnsNames: ['eda-primary.lic.svc'] });
    expect(planMemberSecret({ cert: few.certPem, key: few.keyPem }, want(), T0)).toMatchObject({
      action: 'issue',
      why: expect.stringContaining('lacks a host name'),
    });
  });

  it('with an older bundle keeps its certificate and gets the new bundle', async () => {
    const c = await memberCert(ca);
    const plan = planMemberSecret(
      { cert: c.certPem, key: c.keyPem, bundle: ca.certPem },
      want({ bundle: otherCa.certPem + ca.certPem }),
      at(1),
    );
    expect(plan.action).toBe('bundle');
  });
});

describe('the installation CA', () => {
  it('is issued when there is none, or it does not parse', () => {
    expect(planCa(undefined, T0)).toEqual({ action: 'issue', why: 'no CA yet' });
    expect(planCa({ cert: 'x', key: 'y', bundle: 'z' }, T0).action).toBe('issue');
  });

  it('is kept until two thirds of its lifetime, rechecked then', () => {
    const plan = planCa({ cert: ca.certPem, key: ca.keyPem, bundle: ca.certPem }, at(100));
    expect(plan.action).toBe('keep');
    const start = new Date(new X509Certificate(ca.certPem).validFrom).getTime();
    const end = new Date(new X509Certificate(ca.certPem).validTo).getTime();
    expect((plan as { recheckAt: Date }).recheckAt.getTime()).toBe(start + ((end - start) * 2) / 3);
  });

  it('gets a successor at two thirds, which issues only once it has been trusted long enough', () => {
    const have = { cert: ca.certPem, key: ca.keyPem, bundle: ca.certPem };
    expect(planCa(have, at(2500)).action).toBe('prepare-next');
    const withNext = {
      ...have,
      bundle: otherCa.certPem + ca.certPem,
      nextCert: otherCa.certPem,
      nextKey: otherCa.keyPem,
      nextActiveAt: at(2500.01),
    };
    // Waiting: the successor is trusted, not issuing yet (and no second successor is made).
    expect(planCa(withNext, at(2500))).toEqual({ action: 'keep', recheckAt: at(2500.01) });
    expect(planCa(withNext, at(2500.01)).action).toBe('activate-next');
  });

  it('repairs a bundle that lacks one of its CAs, and sheds CAs that have expired', async () => {
    expect(planCa({ cert: ca.certPem, key: ca.keyPem, bundle: otherCa.certPem }, T0)).toMatchObject({
      action: 'rebundle',
      bundle: expect.stringContaining(ca.certPem.trim()),
    });
    const short = await issueCertificateAuthority({ commonName: 'short', lifetimeMs: 10 * DAY, now: T0 });
    const plan = planCa({ cert: ca.certPem, key: ca.keyPem, bundle: ca.certPem + short.certPem }, at(11));
    expect(plan).toEqual({ action: 'rebundle', bundle: ca.certPem, why: 'an expired CA left the bundle' });
  });
});
