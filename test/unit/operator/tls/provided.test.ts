import type * as k8s from '@kubernetes/client-node';
import { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { parsePair } from '../../../../src/api/pair-parse.ts';
import type { Member } from '../../../../src/api/pair.ts';
import { certificateCondition } from '../../../../src/operator/tls/certificate-condition.ts';
import type { InstallationCa } from '../../../../src/operator/tls/installation-ca.ts';
import { memberDnsNames } from '../../../../src/operator/tls/member-names.ts';
import { podsMayChange } from '../../../../src/operator/tls/pair-tls.ts';
import {
  CERTIFICATE_RETRY_MS,
  ProvidedCertificates,
} from '../../../../src/operator/tls/provided-certificates.ts';
import {
  checkProvidedSecret,
  type ProvidedSecretCheck,
  type ProvidedSecretFinding,
} from '../../../../src/operator/tls/provided-check.ts';
import {
  memberTrustBundle,
  PROVIDED_CA_OVERLAP_MS,
  trustConfigMap,
  trustedUserCas,
} from '../../../../src/operator/tls/provided-trust.ts';
import { issueCertificateAuthority } from '../../../../src/tls/certificate-authority.ts';
import { memberIdentity } from '../../../../src/tls/identity.ts';
import { issueLeaf, type KeyPurpose } from '../../../../src/tls/issue-leaf.ts';
import type { IssuedCertificate } from '../../../../src/tls/issued.ts';
import { certificateBlocks } from '../../../../src/tls/pem.ts';

// The pure check of a member's own certificate Secret (spec.tls.mode Provided): each defect gives
// its reason and a message that names the member, the Secret, what is wrong and the fix.

const DAY = 86_400_000;
const T0 = new Date('2030-01-01T00:00:00Z');
const at = (days: number) => new Date(T0.getTime() + days * DAY);
const ID = (m: Member) => memberIdentity('lic/eda', m);

type Ca = Awaited<ReturnType<typeof issueCertificateAuthority>>;
let userCa: Ca;
let otherCa: Ca;
let installationCa: Ca;

beforeAll(async () => {
  userCa = await issueCertificateAuthority({ commonName: 'user CA', lifetimeMs: 3650 * DAY, now: T0 });
  otherCa = await issueCertificateAuthority({ commonName: 'other CA', lifetimeMs: 3650 * DAY, now: T0 });
  installationCa = await issueCertificateAuthority({ commonName: 'lpo CA', lifetimeMs: 3650 * DAY, now: T0 });
});

/** A certificate as a cert-manager Certificate with these fields would get it. */
function certManagerCert(
  o: {
    ca?: Ca;
    member?: Member;
    uris?: string[];
    dnsNames?: string[];
    usages?: KeyPurpose[];
    days?: number;
    from?: Date;
  } = {},
): Promise<IssuedCertificate> {
  const member = o.member ?? 'primary';
  return issueLeaf((o.ca ?? userCa).authority, {
    commonName: `eda-${member}`,
    uris: o.uris ?? [ID(member)],
    dnsNames: o.dnsNames ?? memberDnsNames('eda', 'lic', member),
    purposes: o.usages ?? ['serverAuth', 'clientAuth'],
    lifetimeMs: (o.days ?? 90) * DAY,
    now: o.from ?? T0,
  });
}

function check(
  data: ProvidedSecretCheck['data'],
  over: Partial<ProvidedSecretCheck> = {},
): ProvidedSecretFinding {
  return checkProvidedSecret({
    member: 'primary',
    namespace: 'lic',
    secretName: 'eda-primary-cert',
    data,
    identity: ID('primary'),
    dnsNames: memberDnsNames('eda', 'lic', 'primary'),
    now: at(1),
    ...over,
  });
}

const secretOf = (c: IssuedCertificate, ca = userCa) => ({
  'tls.crt': c.certPem,
  'tls.key': c.keyPem,
  'ca.crt': ca.certPem,
});

describe('checkProvidedSecret', () => {
  it('a certificate of its ca.crt with the identity, the names and both usages serves, until its notAfter', async () => {
    const c = await certManagerCert();
    const f = check(secretOf(c));
    expect(f).toMatchObject({
      ok: true,
      notAfter: c.notAfter,
      notBefore: c.notBefore,
      caPem: userCa.certPem,
    });
  });

  const defects: {
    name: string;
    data: () => Promise<ProvidedSecretCheck['data']>;
    now?: Date;
    reason: string;
    says: RegExp[];
  }[] = [
    {
      name: 'no Secret',
      data: async () => undefined,
      reason: 'SecretMissing',
      says: [/does not exist/, /spec\.secretName: eda-primary-cert/, /spec\.tls\.secretNames\.primary/],
    },
    {
      name: 'no ca.crt (an ACME issuer)',
      data: async () => {
        const c = await certManagerCert();
        return { 'tls.crt': c.certPem, 'tls.key': c.keyPem };
      },
      reason: 'SecretInvalid',
      says: [/lacks ca\.crt/, /CA, Vault and self-signed issuers/],
    },
    {
      name: 'a tls.crt that is no certificate',
      data: async () => ({ ...secretOf(await certManagerCert()), 'tls.crt': 'not a certificate' }),
      reason: 'SecretInvalid',
      says: [/tls\.crt that does not parse/],
    },
    {
      name: 'the key of another certificate',
      data: async () => ({
        ...secretOf(await certManagerCert()),
        'tls.key': (await certManagerCert()).keyPem,
      }),
      reason: 'SecretInvalid',
      says: [/not the key of its certificate/],
    },
    {
      name: 'an expired certificate',
      data: async () => secretOf(await certManagerCert({ days: 10 })),
      now: at(11),
      reason: 'Expired',
      says: [/expired at 2030-01-11T00:00:00\.000Z/, /renew it/],
    },
    {
      name: 'a certificate not valid yet',
      data: async () => secretOf(await certManagerCert({ from: at(5) })),
      reason: 'NotYetValid',
      says: [/valid only from 2030-01-0[56]T/],
    },
    {
      name: 'a certificate of another CA than its ca.crt',
      data: async () => secretOf(await certManagerCert({ ca: otherCa })),
      reason: 'ChainUntrusted',
      says: [/does not chain to a CA of its ca\.crt/, /CN=other CA/, /CN=user CA/],
    },
    {
      name: 'no URI SAN',
      data: async () => secretOf(await certManagerCert({ uris: [] })),
      reason: 'IdentityMissing',
      says: [
        /without the member's identity \(URI SANs: none\)/,
        /spec\.uris to \["spiffe:\/\/license-pair-operator\/ns\/lic\/pair\/eda\/member\/primary"\]/,
      ],
    },
    {
      name: 'the other member’s identity',
      data: async () => secretOf(await certManagerCert({ uris: [ID('redundant')] })),
      reason: 'IdentityMissing',
      says: [/URI SANs: spiffe:\/\/license-pair-operator\/ns\/lic\/pair\/eda\/member\/redundant/],
    },
    {
      name: 'a DNS name clients dial missing',
      data: async () =>
        secretOf(
          await certManagerCert({
            dnsNames: memberDnsNames('eda', 'lic', 'primary').filter((n) => n !== 'eda.lic.svc'),
          }),
        ),
      reason: 'NamesMissing',
      says: [
        /without the DNS names eda\.lic\.svc /,
        /spec\.dnsNames/,
        /eda-primary\.lic\.svc\.cluster\.local/,
      ],
    },
    {
      name: 'server auth only (cert-manager’s default usages)',
      data: async () => secretOf(await certManagerCert({ usages: ['serverAuth'] })),
      reason: 'UsageMissing',
      says: [/lacks client auth/, /spec\.usages/],
    },
  ];

  for (const d of defects)
    it(`${d.name}: ${d.reason}`, async () => {
      const f = check(await d.data(), d.now ? { now: d.now } : {});
      expect(f.ok).toBe(false);
      if (f.ok) return;
      expect(f.reason).toBe(d.reason);
      expect(f.message).toContain("the primary member's Secret lic/eda-primary-cert");
      for (const s of d.says) expect(f.message).toMatch(s);
      // Never the key.
      expect(f.message).not.toContain('PRIVATE KEY');
    });
});

describe('trust of a Provided pair', () => {
  it('the members trust the user’s CAs and the installation bundle, each CA once', () => {
    const bundle = memberTrustBundle([userCa.certPem, userCa.certPem], installationCa.certPem);
    expect(certificateBlocks(bundle).map((p) => new X509Certificate(p).subject)).toEqual([
      'CN=user CA',
      'CN=lpo CA',
    ]);
  });

  it('the trust ConfigMap is named after the pair and owned by it', () => {
    const cm = trustConfigMap(providedPair(), 'PEM');
    expect(cm.metadata).toMatchObject({
      name: 'eda-member-trust',
      namespace: 'lic',
      ownerReferences: [{ kind: 'LicenseServerPair', name: 'eda', uid: 'uid-1', controller: true }],
    });
    expect(cm.data).toEqual({ 'ca.crt': 'PEM' });
  });
});

function providedPair() {
  return parsePair({
    metadata: { name: 'eda', namespace: 'lic', uid: 'uid-1', generation: 1 },
    spec: {
      server: { license: { secretName: 'eda-license' } },
      tls: {
        mode: 'Provided',
        secretNames: { primary: 'eda-primary-cert', redundant: 'eda-redundant-cert' },
      },
    },
  });
}

/** The Secrets as the API server holds them (base64), and what is applied. */
function fakeIo(secrets: Record<string, Record<string, string>>) {
  const reads: string[] = [];
  const applied: k8s.KubernetesObject[] = [];
  return {
    reads,
    applied,
    secrets,
    io: {
      readSecret: async (_ns: string, name: string) => {
        reads.push(name);
        const d = secrets[name];
        return d
          ? {
              data: Object.fromEntries(
                Object.entries(d).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')]),
              ),
            }
          : undefined;
      },
      readConfigMap: async (_ns: string, name: string) =>
        applied.findLast((o): o is k8s.V1ConfigMap => o.kind === 'ConfigMap' && o.metadata?.name === name),
      apply: async (desired: k8s.KubernetesObject) => {
        applied.push(desired);
      },
    },
  };
}

/** The installation CA as ProvidedCertificates reads it. */
const installation = () =>
  ({
    current: async () => ({ authority: installationCa.authority, bundle: installationCa.certPem }),
  }) as unknown as InstallationCa;

/** A ProvidedCertificates over `io` on the clock `now`. */
const providedCertificates = (io: ReturnType<typeof fakeIo>['io'], now: () => number) =>
  new ProvidedCertificates(installation(), io, { clusterDomain: 'cluster.local', now });

/** Both members' Secrets with valid certificates of the user's CA. */
const validSecrets = async () =>
  fakeIo({
    'eda-primary-cert': secretOf(await certManagerCert()),
    'eda-redundant-cert': secretOf(await certManagerCert({ member: 'redundant' })),
  });

describe('ProvidedCertificates', () => {
  /** Both members' Secrets holding these certificates, read by a ProvidedCertificates at `now()`. */
  const withSecrets = (
    p: Awaited<ReturnType<typeof certManagerCert>>,
    r: Awaited<ReturnType<typeof certManagerCert>>,
    now: () => number,
  ) => {
    const fx = fakeIo({ 'eda-primary-cert': secretOf(p), 'eda-redundant-cert': secretOf(r) });
    const certs = providedCertificates(fx.io, now);
    return { fx, certs, pair: providedPair() };
  };

  it('valid Secrets: True/Provided with the earliest expiry, the trust and client ConfigMaps, re-read after 30 s only', async () => {
    const [p, r] = [
      await certManagerCert({ days: 90 }),
      await certManagerCert({ member: 'redundant', days: 60 }),
    ];
    let now = at(1).getTime();
    const { fx, certs, pair } = withSecrets(p, r, () => now);
    const state = await certs.ensure(pair);
    expect(state).toMatchObject({ ok: true, expires: { primary: p.notAfter, redundant: r.notAfter } });
    const cond = certificateCondition(pair, state)!;
    expect(cond).toMatchObject({ status: 'True', reason: 'Provided' });
    expect(cond.message).toContain(r.notAfter.toISOString());
    const byName = Object.fromEntries(
      fx.applied.map((o) => [o.metadata!.name!, (o as k8s.V1ConfigMap).data!['ca.crt']!]),
    );
    expect(byName['eda-ca']).toBe(userCa.certPem);
    expect(certificateBlocks(byName['eda-member-trust']!)).toHaveLength(2);
    expect(certs.trustedCa('lic/eda')).toBe(userCa.certPem);
    expect(podsMayChange(pair, state)).toBe(true);

    fx.reads.length = 0;
    now += 10_000;
    await certs.ensure(pair);
    expect(fx.reads).toEqual([]);
    now += 25_000;
    await certs.ensure(pair);
    expect(fx.reads.sort()).toEqual(['eda-primary-cert', 'eda-redundant-cert']);
    // Same content: not written again.
    expect(fx.applied).toHaveLength(2);
  });

  it('a broken Secret: False with its reason, no ConfigMap written, no pod may change; the fix is seen on the next read', async () => {
    const p = await certManagerCert({ uris: [] });
    const r = await certManagerCert({ member: 'redundant' });
    let now = at(1).getTime();
    const { fx, certs, pair } = withSecrets(p, r, () => now);
    const state = await certs.ensure(pair);
    expect(state).toMatchObject({ ok: false, reason: 'IdentityMissing' });
    const cond = certificateCondition(pair, state)!;
    expect(cond).toMatchObject({ status: 'False', reason: 'IdentityMissing' });
    expect(cond.message).toContain('spec.uris');
    expect(fx.applied).toEqual([]);
    expect(podsMayChange(pair, state)).toBe(false);
    // The CA in the Secrets is what the operator verifies the members with meanwhile.
    expect(certs.trustedCa('lic/eda')).toBe(userCa.certPem);

    fx.secrets['eda-primary-cert'] = secretOf(await certManagerCert());
    // A broken pair's Secrets are looked at again within seconds, not at the good pair's 30 s.
    fx.reads.length = 0;
    now += 4_000;
    expect((await certs.ensure(pair)).ok).toBe(false);
    expect(fx.reads).toEqual([]);
    now += 1_500;
    expect((await certs.ensure(pair)).ok).toBe(true);
    expect(fx.reads.sort()).toEqual(['eda-primary-cert', 'eda-redundant-cert']);
  });

  it('a certificate in the last sixth of its life: still True, reason RenewalOverdue', async () => {
    const p = await certManagerCert({ days: 60 });
    const r = await certManagerCert({ member: 'redundant', days: 60 });
    const { certs, pair } = withSecrets(p, r, () => at(51).getTime());
    const cond = certificateCondition(pair, await certs.ensure(pair))!;
    expect(cond).toMatchObject({ status: 'True', reason: 'RenewalOverdue' });
    expect(cond.message).toContain('eda-primary-cert');
  });
});

describe('trustedUserCas: a user CA the Secrets no longer hold stays trusted for the overlap', () => {
  const t = at(10).getTime();
  const H = PROVIDED_CA_OVERLAP_MS;
  const fps = (pem: string) => certificateBlocks(pem).map((b) => new X509Certificate(b).fingerprint256);
  const fp = (ca: Ca) => new X509Certificate(ca.certPem).fingerprint256;

  it('first read: what the Secrets hold, nothing retired', () => {
    expect(trustedUserCas(userCa.certPem, undefined, t)).toEqual({ cas: userCa.certPem, retired: [] });
  });

  it('the issuer rotated: the new CA first, the old one kept until an overlap after it was missed', () => {
    const rotated = trustedUserCas(otherCa.certPem, { cas: userCa.certPem, retired: [] }, t);
    expect(fps(rotated.cas)).toEqual([fp(otherCa), fp(userCa)]);
    expect(rotated.retired).toEqual([{ pem: userCa.certPem, until: t + H }]);
    // read again later: the deadline is the first one, not pushed on
    const later = trustedUserCas(otherCa.certPem, rotated, t + H / 2);
    expect(later).toEqual(rotated);
    // at the deadline it is gone, and it does not come back from `cas`
    const past = trustedUserCas(otherCa.certPem, later, t + H);
    expect(past).toEqual({ cas: otherCa.certPem, retired: [] });
    expect(trustedUserCas(otherCa.certPem, past, t + H + 1)).toEqual(past);
  });

  it('a retired CA that the Secrets hold again is current again', () => {
    const rotated = trustedUserCas(otherCa.certPem, { cas: userCa.certPem, retired: [] }, t);
    const back = trustedUserCas(userCa.certPem + otherCa.certPem, rotated, t + 1000);
    expect(back).toEqual({ cas: userCa.certPem + otherCa.certPem, retired: [] });
  });

  it('never past its own notAfter; an expired or unparsable one is not kept at all', async () => {
    const shortCa = await issueCertificateAuthority({
      commonName: 'short CA',
      lifetimeMs: 20 * 60_000,
      now: new Date(t),
    });
    const notAfter = Date.parse(new X509Certificate(shortCa.certPem).validTo);
    const rotated = trustedUserCas(userCa.certPem, { cas: shortCa.certPem, retired: [] }, t);
    expect(rotated.retired).toEqual([{ pem: shortCa.certPem, until: notAfter }]);
    expect(trustedUserCas(userCa.certPem, rotated, notAfter)).toEqual({ cas: userCa.certPem, retired: [] });
    const garbage = '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n';
    expect(trustedUserCas(userCa.certPem, { cas: garbage, retired: [] }, t)).toEqual({
      cas: userCa.certPem,
      retired: [],
    });
  });
});

describe('ProvidedCertificates: the issuer rotates its CA', () => {
  const configMaps = (applied: k8s.KubernetesObject[]) => {
    const last = (name: string) =>
      (applied.findLast((o) => o.metadata?.name === name) as k8s.V1ConfigMap | undefined)?.data?.['ca.crt'];
    return { clients: last('eda-ca') ?? '', members: last('eda-member-trust') ?? '' };
  };
  const names = (pem: string) => certificateBlocks(pem).map((b) => new X509Certificate(b).subject);

  it('both ConfigMaps and the operator keep the old CA for the overlap, then drop it; a restarted operator keeps it too', async () => {
    let now = at(1).getTime();
    const fx = await validSecrets();
    const pair = providedPair();
    const certs = providedCertificates(fx.io, () => now);
    expect((await certs.ensure(pair)).ok).toBe(true);
    expect(names(configMaps(fx.applied).clients)).toEqual(['CN=user CA']);

    // cert-manager re-issued both certificates from the issuer's new CA
    fx.secrets['eda-primary-cert'] = secretOf(await certManagerCert({ ca: otherCa, from: at(2) }), otherCa);
    fx.secrets['eda-redundant-cert'] = secretOf(
      await certManagerCert({ ca: otherCa, member: 'redundant', from: at(2) }),
      otherCa,
    );
    now = at(2).getTime() + 60_000;
    const rotated = await certs.ensure(pair);
    expect(rotated.ok).toBe(true);
    expect(names(configMaps(fx.applied).clients)).toEqual(['CN=other CA', 'CN=user CA']);
    expect(names(configMaps(fx.applied).members)).toEqual(['CN=other CA', 'CN=user CA', 'CN=lpo CA']);
    expect(names(certs.trustedCa('lic/eda')!)).toEqual(['CN=other CA', 'CN=user CA']);
    const overlapEnds = now + PROVIDED_CA_OVERLAP_MS;

    // an operator started during the overlap reads what was trusted from the clients' ConfigMap
    const restarted = providedCertificates(fx.io, () => now + 30 * 60_000);
    expect((await restarted.ensure(pair)).ok).toBe(true);
    expect(names(restarted.trustedCa('lic/eda')!)).toEqual(['CN=other CA', 'CN=user CA']);

    // a minute before its end the pair is told to look again when the overlap ends
    now = overlapEnds - 60_000;
    const ending = await certs.ensure(pair);
    expect(ending.ok && ending.renewAt.getTime()).toBe(overlapEnds);
    expect(names(certs.trustedCa('lic/eda')!)).toEqual(['CN=other CA', 'CN=user CA']);

    // past the overlap the old CA is gone from both ConfigMaps and from the operator's trust
    now = overlapEnds;
    expect((await certs.ensure(pair)).ok).toBe(true);
    expect(names(configMaps(fx.applied).clients)).toEqual(['CN=other CA']);
    expect(names(configMaps(fx.applied).members)).toEqual(['CN=other CA', 'CN=lpo CA']);
    expect(names(certs.trustedCa('lic/eda')!)).toEqual(['CN=other CA']);
  });
});

describe('ProvidedCertificates.recheckIfRefused', () => {
  it('a member refused on its certificate has the Secrets read again within CERTIFICATE_RETRY_MS, not 30 s', async () => {
    let now = at(1).getTime();
    const fx = await validSecrets();
    const pair = providedPair();
    const certs = providedCertificates(fx.io, () => now);
    await certs.ensure(pair);
    expect(certs.recheckIfRefused('lic/eda', false)).toBeUndefined();
    expect(certs.recheckIfRefused('lic/other', true)).toBeUndefined();
    fx.reads.length = 0;
    now += 2_000;
    // too soon after the last read: come back when it is due, and the read is still the cached one
    expect(certs.recheckIfRefused('lic/eda', true)).toBe(CERTIFICATE_RETRY_MS - 2_000);
    await certs.ensure(pair);
    expect(fx.reads).toEqual([]);
    now += CERTIFICATE_RETRY_MS;
    expect(certs.recheckIfRefused('lic/eda', true)).toBe(CERTIFICATE_RETRY_MS);
    await certs.ensure(pair);
    expect(fx.reads.sort()).toEqual(['eda-primary-cert', 'eda-redundant-cert']);
  });
});
