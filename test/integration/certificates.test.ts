import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identitiesOfPem } from '../../src/tls/identity.ts';
import { bundleEntries } from '../../src/tls/trust-bundle.ts';
import { createNamespace, deleteNamespace, eventually, kube, type Kube } from '../support/kube.ts';
import { kubectl } from '../support/kubectl.ts';
import { createLoopbackPairObject, readPair } from '../support/members.ts';
import { ensureCrd, OperatorProcess } from '../support/operator.ts';

// The certificates the operator issues (spec.tls.mode Operator, the default), on a real API
// server: the installation CA in the operator's namespace, each member's Secret in the shape
// cert-manager writes, the CA bundle for clients, the pods mounting them, status and Events, a
// member certificate renewed at two thirds of its lifetime, and a CA rotated with an overlap in
// the bundle. Lifetimes are seconds here (the defaults are 30 days and 10 years).

const PAIR = 'tls';
let k: Kube;
let ns: string;
let operator: OperatorProcess;

const b64 = (s: string | undefined) => Buffer.from(s ?? '', 'base64').toString('utf8');
const secret = async (name: string) => k.core.readNamespacedSecret({ namespace: ns, name });
const memberSecret = async (m: string) => {
  const s = await secret(`${PAIR}-${m}-tls`);
  return {
    type: s.type,
    cert: b64(s.data?.['tls.crt']),
    key: b64(s.data?.['tls.key']),
    bundle: b64(s.data?.['ca.crt']),
  };
};
const caSecret = async () => {
  const s = await secret('license-pair-operator-ca');
  return { cert: b64(s.data?.['tls.crt']), bundle: b64(s.data?.['ca.crt']), next: s.data?.['next.crt'] };
};

beforeAll(async () => {
  k = kube();
  ensureCrd(kubectl);
  ns = await createNamespace(k, 'certs');
  operator = new OperatorProcess({
    LEADER_ELECT: 'false',
    WATCH_NAMESPACE: ns,
    OPERATOR_NAMESPACE: ns,
    TLS_MEMBER_CERT_LIFETIME_SECONDS: '15',
    TLS_CA_LIFETIME_SECONDS: '45',
    TLS_CA_PROPAGATION_SECONDS: '3',
  });
  await operator.start();
  // No member process runs: this file is about what the operator writes. The default ports, and
  // TLS on (the helper's loopback pairs opt out).
  await createLoopbackPairObject(
    k,
    ns,
    PAIR,
    { licences: 7070, admin: 7071, metrics: 9464 },
    { tls: { mode: 'Operator' } },
  );
});

afterAll(async () => {
  await operator?.stop();
  await deleteNamespace(k, ns);
});

describe('certificates the operator issues', () => {
  it('a CA in its namespace, each member a certificate of it with its identity and names, a bundle for clients', async () => {
    const primary = await eventually('both member Secrets', async () => {
      const [p] = await Promise.all([memberSecret('primary'), memberSecret('redundant')]);
      return p;
    });
    const ca = await caSecret();
    const caCert = new X509Certificate(ca.cert);
    expect(caCert.ca).toBe(true);
    expect(primary.type).toBe('kubernetes.io/tls');
    const cert = new X509Certificate(primary.cert);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(
      cert.checkPrivateKey(await import('node:crypto').then((c) => c.createPrivateKey(primary.key))),
    ).toBe(true);
    expect(identitiesOfPem(primary.cert)).toEqual([
      { kind: 'member', namespace: ns, pair: PAIR, member: 'primary' },
    ]);
    expect(cert.subjectAltName).toContain(`DNS:${PAIR}-primary.${ns}.svc`);
    expect(cert.subjectAltName).toContain(`DNS:${PAIR}.${ns}.svc.cluster.local`);
    expect(primary.bundle).toBe(ca.bundle);
    const cm = await k.core.readNamespacedConfigMap({ namespace: ns, name: `${PAIR}-ca` });
    expect(cm.data?.['ca.crt']).toBe(ca.bundle);
  });

  it('mounts them into the members, serves https and probes over HTTPS', async () => {
    const pod = await eventually('the primary pod', () =>
      k.core.readNamespacedPod({ namespace: ns, name: `${PAIR}-primary` }),
    );
    const c = pod.spec!.containers[0]!;
    const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
    expect(env['LS_TLS_CERT_FILE']).toBe('/etc/license-server/tls/tls.crt');
    expect(env['LS_PEER_URL']).toBe(`https://${PAIR}-redundant.${ns}.svc:7071`);
    expect(pod.spec!.volumes!.find((v) => v.name === 'tls')?.secret?.secretName).toBe(`${PAIR}-primary-tls`);
    expect(c.readinessProbe?.httpGet?.scheme).toBe('HTTPS');
  });

  it('says until when in status, the condition, an Event and the metric', async () => {
    const s = await eventually('CertificatesReady in status', async () => {
      const st = (await readPair(k, ns, PAIR)).status as
        | {
            conditions?: { type: string; status: string; reason: string }[];
            members?: Record<string, { certificateExpires?: string }>;
          }
        | undefined;
      const c = st?.conditions?.find((x) => x.type === 'CertificatesReady');
      return c?.status === 'True' && st?.members?.['primary']?.certificateExpires ? st : undefined;
    });
    const expires = Date.parse(s.members!['primary']!.certificateExpires!);
    expect(expires).toBeGreaterThan(Date.now());
    const events = await k.core.listNamespacedEvent({
      namespace: ns,
      fieldSelector: 'reason=CertificateIssued',
    });
    expect(events.items.some((e) => e.message?.includes('primary member a certificate'))).toBe(true);
    const metrics = await eventually('the expiry metric', async () => {
      const text = await operator.metrics();
      return text.includes('lpo_member_certificate_expiry_timestamp_seconds{') ? text : undefined;
    });
    expect(metrics).toMatch(
      new RegExp(
        `lpo_member_certificate_expiry_timestamp_seconds\\{namespace="${ns}",pair="${PAIR}",member="primary"\\} \\d+`,
      ),
    );
    expect(metrics).toMatch(/lpo_operator_certificate_expiry_timestamp_seconds \d+/);
  });

  it('renews a member certificate at two thirds of its lifetime, before it expires', async () => {
    const first = new X509Certificate((await memberSecret('primary')).cert);
    const renewed = await eventually(
      'a new primary certificate',
      async () => {
        const c = new X509Certificate((await memberSecret('primary')).cert);
        return c.serialNumber !== first.serialNumber ? c : undefined;
      },
      20_000,
      250,
    );
    // Renewed while the first one was still valid (two thirds of 15 s: about 10 s after issue).
    expect(Date.now()).toBeLessThan(new Date(first.validTo).getTime());
    expect(new Date(renewed.validTo).getTime()).toBeGreaterThan(new Date(first.validTo).getTime());
  });

  it('rotates the CA: the successor joins the bundle first, then issues; the old one leaves the bundle when it expires', async () => {
    const old = await caSecret();
    const oldFingerprint = new X509Certificate(old.cert).fingerprint256;
    // At two thirds of 45 s a successor is made and put in the bundle; it issues 3 s later.
    const overlap = await eventually(
      'the members on the new CA, the bundle holding both',
      async () => {
        const ca = await caSecret();
        const m = await memberSecret('primary');
        const issuer = new X509Certificate(ca.cert);
        if (issuer.fingerprint256 === oldFingerprint) return undefined;
        if (!new X509Certificate(m.cert).verify(issuer.publicKey)) return undefined;
        return bundleEntries(m.bundle).length === 2 ? m : undefined;
      },
      45_000,
      250,
    );
    expect(bundleEntries(overlap.bundle).map((e) => e.fingerprint256)).toContain(oldFingerprint);
    // Once the old CA has expired, nothing it issued is in use: the bundle holds the new one alone.
    await eventually(
      'the old CA out of the bundle',
      async () => {
        const m = await memberSecret('primary');
        const cm = await k.core.readNamespacedConfigMap({ namespace: ns, name: `${PAIR}-ca` });
        const fps = (b: string) => bundleEntries(b).map((e) => e.fingerprint256);
        return fps(m.bundle).length === 1 && !fps(cm.data?.['ca.crt'] ?? '').includes(oldFingerprint);
      },
      40_000,
      250,
    );
  });
});
