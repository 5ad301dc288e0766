import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LicenseClient } from '../../src/client/client.ts';
import { memberDnsNames } from '../../src/operator/tls/member-names.ts';
import { issueCertificateAuthority } from '../../src/tls/certificate-authority.ts';
import { memberIdentity } from '../../src/tls/identity.ts';
import { issueLeaf } from '../../src/tls/issue-leaf.ts';
import type { IssuedCertificate } from '../../src/tls/issued.ts';
import { certificateBlocks } from '../../src/tls/pem.ts';
import { createNamespace, deleteNamespace, eventually, kube, type Kube } from '../support/kube.ts';
import { kubectl, kubectlFails } from '../support/kubectl.ts';
import {
  createLoopbackPairObject,
  licenceFixture,
  LoopbackMember,
  memberIPs,
  readPair,
  StandInKubelet,
  type MemberName,
} from '../support/members.ts';
import { ensureCrd, freePort, OperatorProcess } from '../support/operator.ts';
import { clientServerName } from '../support/pair-tls.ts';
import type { Fixture } from '../unit/license-server/fixtures.ts';

// Bring-your-own certificates (spec.tls.mode Provided) on a real API server: a CA and member
// certificates made with src/tls as a cert-manager CA Issuer and two Certificates would write them
// (kubernetes.io/tls Secrets with tls.crt, tls.key, ca.crt), real member processes on loopback that
// read the files the stand-in kubelet writes from each pod's projected `tls` volume (the user's
// certificate and key, the operator's trust ConfigMap), and the operator checking the Secrets,
// calling the members over mutual TLS and refusing to start pods on a Secret that cannot serve.

const PAIR = 'byo';
const BROKEN = 'byo-broken';
const DAY = 86_400_000;
const MEMBERS: MemberName[] = ['primary', 'redundant'];
type Ca = Awaited<ReturnType<typeof issueCertificateAuthority>>;
type Condition = { type: string; status: string; reason: string; message: string };

let k: Kube;
let ns: string;
let brokenNs: string;
let operator: OperatorProcess;
let kubelet: StandInKubelet;
let fx: Fixture;
let userCa: Ca;
const members: Partial<Record<MemberName, LoopbackMember>> = {};

/** The certificate a cert-manager Certificate with these uris, dnsNames and ipAddresses gets. */
function certManagerCertificate(
  pairNs: string,
  pair: string,
  member: MemberName,
  o: { uris?: string[] } = {},
): Promise<IssuedCertificate> {
  return issueLeaf(userCa.authority, {
    commonName: `${pair}-${member}`,
    uris: o.uris ?? [memberIdentity(`${pairNs}/${pair}`, member)],
    dnsNames: memberDnsNames(pair, pairNs, member),
    // Only because the test's members listen on loopback, not behind their Services.
    ipAddresses: [memberIPs[member]],
    purposes: ['serverAuth', 'clientAuth'],
    lifetimeMs: 90 * DAY,
  });
}

/** Writes the Secret as cert-manager does (type kubernetes.io/tls; ca.crt from a CA Issuer). */
async function writeTlsSecret(
  pairNs: string,
  name: string,
  c: IssuedCertificate,
  caCrt = userCa.certPem,
): Promise<void> {
  const body = {
    metadata: { name, annotations: { 'cert-manager.io/certificate-name': name } },
    type: 'kubernetes.io/tls',
    stringData: { 'tls.crt': c.certPem, 'tls.key': c.keyPem, 'ca.crt': caCrt },
  };
  await k.core
    .replaceNamespacedSecret({ namespace: pairNs, name, body })
    .catch(() => k.core.createNamespacedSecret({ namespace: pairNs, body }));
}

async function certificatesReady(pairNs: string, pair: string): Promise<Condition | undefined> {
  const st = (await readPair(k, pairNs, pair)).status as { conditions?: Condition[] } | undefined;
  return st?.conditions?.find((c) => c.type === 'CertificatesReady');
}

const secretNames = (pair: string) => ({
  primary: `${pair}-primary-cert`,
  redundant: `${pair}-redundant-cert`,
});

beforeAll(async () => {
  k = kube();
  ensureCrd(kubectl);
  ns = await createNamespace(k, 'byo');
  brokenNs = await createNamespace(k, 'byo-broken');
  userCa = await issueCertificateAuthority({
    commonName: 'team CA (cert-manager Issuer)',
    lifetimeMs: 365 * DAY,
  });
  for (const m of MEMBERS)
    await writeTlsSecret(ns, secretNames(PAIR)[m], await certManagerCertificate(ns, PAIR, m));

  fx = licenceFixture(`${ns}/${PAIR}`);
  await k.core.createNamespacedSecret({
    namespace: ns,
    body: { metadata: { name: `${PAIR}-admin-token` }, stringData: { token: fx.token } },
  });
  const ports = { licences: await freePort(), admin: await freePort(), metrics: await freePort() };
  const tlsDirs = {
    primary: path.join(fx.dir, 'tls-primary'),
    redundant: path.join(fx.dir, 'tls-redundant'),
  };
  kubelet = new StandInKubelet(k, ns, {}, { tlsDirs });
  kubelet.start();
  operator = new OperatorProcess({
    LEADER_ELECT: 'false',
    WATCH_NAMESPACE: `${ns},${brokenNs}`,
    OPERATOR_NAMESPACE: ns,
  });
  await operator.start();
  await createLoopbackPairObject(k, ns, PAIR, ports, {
    tls: { mode: 'Provided', secretNames: secretNames(PAIR) },
  });
  // The members start once the kubelet has written their volume, as a container does.
  for (const m of MEMBERS) {
    await eventually(`the ${m} member's tls volume`, async () =>
      fs.existsSync(path.join(tlsDirs[m], 'ca.crt')),
    );
    members[m] = new LoopbackMember(m, fx, ports, `${ns}/${PAIR}`, { tlsDir: tlsDirs[m] });
  }
  await Promise.all(MEMBERS.map((m) => members[m]!.start()));
}, 180_000);

afterAll(async () => {
  await kubelet?.stop();
  await operator?.stop();
  for (const m of MEMBERS) await members[m]?.kill();
  fx?.cleanup();
  await deleteNamespace(k, ns);
  await deleteNamespace(k, brokenNs);
});

describe('certificates the user provides (spec.tls.mode Provided)', () => {
  it('are checked: CertificatesReady=True reason Provided, the expiry in status, nothing issued for the members', async () => {
    const c = await eventually('CertificatesReady=True', async () => {
      const cond = await certificatesReady(ns, PAIR);
      return cond?.status === 'True' ? cond : undefined;
    });
    expect(c.reason).toBe('Provided');
    const st = (await readPair(k, ns, PAIR)).status as {
      members?: Record<string, { certificateExpires?: string }>;
    };
    expect(Date.parse(st.members!['primary']!.certificateExpires!)).toBeGreaterThan(Date.now() + 80 * DAY);
    // No operator-issued member Secret.
    const secrets = (await k.core.listNamespacedSecret({ namespace: ns })).items.map((s) => s.metadata!.name);
    expect(secrets).not.toContain(`${PAIR}-primary-tls`);
    expect(secrets).not.toContain(`${PAIR}-redundant-tls`);
  });

  it('the clients’ bundle is the user’s CA; the members trust it and the installation CA', async () => {
    const clients = await eventually('the ConfigMap <pair>-ca', () =>
      k.core.readNamespacedConfigMap({ namespace: ns, name: `${PAIR}-ca` }),
    );
    expect(clients.data?.['ca.crt']).toBe(userCa.certPem);
    const trust = await k.core.readNamespacedConfigMap({ namespace: ns, name: `${PAIR}-member-trust` });
    const installation = await k.core.readNamespacedSecret({
      namespace: ns,
      name: 'license-pair-operator-ca',
    });
    const installationCa = Buffer.from(installation.data!['tls.crt']!, 'base64').toString('utf8');
    const blocks = certificateBlocks(trust.data!['ca.crt']!);
    expect(blocks).toContain(userCa.certPem);
    expect(blocks.map((b) => b.trim())).toContain(installationCa.trim());
    const pod = await k.core.readNamespacedPod({ namespace: ns, name: `${PAIR}-primary` });
    const tls = pod.spec!.volumes!.find((v) => v.name === 'tls')!;
    expect(tls.projected!.sources!.map((s) => s.secret?.name ?? s.configMap?.name)).toEqual([
      `${PAIR}-primary-cert`,
      `${PAIR}-member-trust`,
    ]);
  });

  it('the members serve with them: the pair reaches Running over the operator’s mutual TLS, and a checkout verified with the user’s CA succeeds', async () => {
    await eventually(
      'phase Running',
      async () => (await readPair(k, ns, PAIR)).status?.phase === 'Running',
      90_000,
      250,
    );
    const pair = await readPair(k, ns, PAIR);
    const live = pair.status!.liveMember as MemberName;
    const client = new LicenseClient({
      addresses: [members[live]!.clientUrl],
      clientId: 'byo-test',
      user: 'alice',
      host: 'ws1',
      autoRenew: false,
      ca: userCa.certPem,
      // The name of the client Service, as a client in the cluster dials it.
      servername: clientServerName(ns, PAIR),
    });
    try {
      const lease = await client.checkout('synth');
      expect(lease.feature).toBe('synth');
      await client.release(lease.id);
    } finally {
      client.close();
    }
    // The standby replicates from the live member over their mutual TLS.
    await eventually(
      'the standby in sync',
      async () => {
        const st = (await readPair(k, ns, PAIR)).status as {
          members?: Record<string, { replication?: { state?: string } }>;
        };
        const standby = live === 'primary' ? 'redundant' : 'primary';
        return st.members?.[standby]?.replication?.state === 'in-sync';
      },
      60_000,
      250,
    );
  });

  it('the issuer rotates its CA under continuous checkouts: no call refused, and the old CA stays trusted after both certificates moved on', async () => {
    const oldCa = userCa;
    const newCa = await issueCertificateAuthority({
      commonName: 'team CA 2 (rotated)',
      lifetimeMs: 365 * DAY,
    });
    const subjects = (pem: string | undefined) =>
      certificateBlocks(pem ?? '').map((b) => new X509Certificate(b).subject.replace(/^CN=/, ''));
    const bundle = async (name: string) =>
      (await k.core.readNamespacedConfigMap({ namespace: ns, name })).data?.['ca.crt'];
    // What a client pod has mounted from <pair>-ca: refreshed about every second, as the kubelet does.
    let clientBundle = (await bundle(`${PAIR}-ca`))!;
    const mount = setInterval(() => {
      void bundle(`${PAIR}-ca`).then(
        (b) => b && (clientBundle = b),
        () => undefined,
      );
    }, 1000);
    const client = new LicenseClient({
      addresses: MEMBERS.map((m) => members[m]!.clientUrl),
      clientId: 'byo-rotation',
      user: 'alice',
      host: 'ws1',
      autoRenew: false,
      ca: () => clientBundle,
      servername: clientServerName(ns, PAIR),
    });
    const errors: string[] = [];
    let calls = 0;
    let running = true;
    const load = (async () => {
      while (running) {
        try {
          const lease = await client.checkout('synth');
          await client.release(lease.id);
          calls++;
        } catch (err) {
          errors.push((err as Error).message);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    // The operator reads good Secrets at its own pace (at most every 30 s, on a reconcile): an
    // annotation wakes the pair while the test waits.
    let nudges = 0;
    const nudge = () =>
      kubectl(['annotate', 'lsp', PAIR, '-n', ns, `test.lpo.dev/nudge=${++nudges}`, '--overwrite']);
    const writeSecrets = async (ca: Ca, caCrt: string) => {
      userCa = ca;
      for (const m of MEMBERS)
        await writeTlsSecret(ns, secretNames(PAIR)[m], await certManagerCertificate(ns, PAIR, m), caCrt);
    };
    try {
      // 1. The new CA is published first: each Secret's ca.crt holds both (certificates still old).
      await writeSecrets(oldCa, oldCa.certPem + newCa.certPem);
      await eventually(
        'both CAs in the members’ trust',
        async () => {
          nudge();
          return subjects(await bundle(`${PAIR}-member-trust`)).includes('team CA 2 (rotated)');
        },
        90_000,
        2000,
      );
      // 2. Both certificates re-issued from the new CA, whose Secret names only itself.
      await writeSecrets(newCa, newCa.certPem);
      await eventually(
        'the Secrets read again (CertificatesReady True, the old CA kept for the overlap)',
        async () => {
          nudge();
          const clients = subjects(await bundle(`${PAIR}-ca`));
          const cond = await certificatesReady(ns, PAIR);
          return cond?.status === 'True' && clients[0] === 'team CA 2 (rotated)' && clients.length === 2;
        },
        90_000,
        2000,
      );
      expect(subjects(await bundle(`${PAIR}-ca`))).toEqual([
        'team CA 2 (rotated)',
        'team CA (cert-manager Issuer)',
      ]);
      expect(subjects(await bundle(`${PAIR}-member-trust`)).slice(0, 2)).toEqual([
        'team CA 2 (rotated)',
        'team CA (cert-manager Issuer)',
      ]);
      // Calls go on past the members' reload of the new files.
      const before = calls;
      await eventually('more checkouts after the rotation', async () => calls > before + 20, 30_000, 250);
    } finally {
      running = false;
      await load;
      clearInterval(mount);
      client.close();
    }
    expect(errors).toEqual([]);
    expect(calls).toBeGreaterThan(20);

    // The members now serve certificates of the new CA: a client that trusts only it is served,
    // and the pair is still Running with its standby in sync.
    const newOnly = new LicenseClient({
      addresses: MEMBERS.map((m) => members[m]!.clientUrl),
      clientId: 'byo-new-ca',
      user: 'alice',
      host: 'ws1',
      autoRenew: false,
      ca: newCa.certPem,
      servername: clientServerName(ns, PAIR),
    });
    try {
      await eventually('a checkout verified with the new CA alone', async () => {
        const lease = await newOnly.checkout('synth').catch(() => undefined);
        if (lease) await newOnly.release(lease.id);
        return lease !== undefined;
      });
    } finally {
      newOnly.close();
    }
    await eventually(
      'Running, the standby in sync',
      async () => {
        const pair = await readPair(k, ns, PAIR);
        const st = pair.status as {
          phase?: string;
          liveMember?: MemberName;
          members?: Record<string, { replication?: { state?: string } }>;
        };
        const standby = st.liveMember === 'primary' ? 'redundant' : 'primary';
        return st.phase === 'Running' && st.members?.[standby]?.replication?.state === 'in-sync';
      },
      60_000,
      500,
    );
  });

  it('a Secret without the member’s URI SAN: CertificatesReady=False IdentityMissing, a Warning Event, no pods; fixed, the pods come', async () => {
    for (const m of MEMBERS)
      await writeTlsSecret(
        brokenNs,
        secretNames(BROKEN)[m],
        await certManagerCertificate(brokenNs, BROKEN, m, m === 'redundant' ? { uris: [] } : {}),
      );
    await createLoopbackPairObject(
      k,
      brokenNs,
      BROKEN,
      { licences: 7070, admin: 7071, metrics: 9464 },
      { tls: { mode: 'Provided', secretNames: secretNames(BROKEN) } },
    );
    const identity = memberIdentity(`${brokenNs}/${BROKEN}`, 'redundant');
    const c = await eventually('CertificatesReady=False', async () => {
      const cond = await certificatesReady(brokenNs, BROKEN);
      return cond?.status === 'False' ? cond : undefined;
    });
    expect(c.reason).toBe('IdentityMissing');
    expect(c.message).toContain(`the redundant member's Secret ${brokenNs}/${BROKEN}-redundant-cert`);
    expect(c.message).toContain(`spec.uris to ["${identity}"]`);
    const event = await eventually('the Warning Event', async () => {
      const events = await k.core.listNamespacedEvent({
        namespace: brokenNs,
        fieldSelector: 'reason=IdentityMissing',
      });
      return events.items[0];
    });
    expect(event.type).toBe('Warning');
    expect(event.message).toContain('spec.uris');
    expect(event.involvedObject.name).toBe(BROKEN);
    // No pod was created onto the broken Secret (the client Service and its kin were).
    const pods = await k.core.listNamespacedPod({ namespace: brokenNs });
    expect(pods.items).toEqual([]);

    // Fixed, as cert-manager would reissue after spec.uris is set: read again within 30 s.
    await writeTlsSecret(
      brokenNs,
      secretNames(BROKEN).redundant,
      await certManagerCertificate(brokenNs, BROKEN, 'redundant'),
    );
    await eventually(
      'CertificatesReady=True and both pods',
      async () => {
        const cond = await certificatesReady(brokenNs, BROKEN);
        const pods = await k.core.listNamespacedPod({ namespace: brokenNs });
        return cond?.status === 'True' && pods.items.length === 2;
      },
      60_000,
      500,
    );
    // One Warning Event for the episode.
    const events = await k.core.listNamespacedEvent({
      namespace: brokenNs,
      fieldSelector: 'reason=IdentityMissing',
    });
    expect(events.items).toHaveLength(1);
  });

  it('the CRD refuses Provided without the Secret names, and names without Provided', () => {
    const apply = (name: string, tls: unknown) => {
      const manifest = JSON.stringify({
        apiVersion: 'lpo.dev/v1alpha1',
        kind: 'LicenseServerPair',
        metadata: { name, namespace: brokenNs },
        spec: { server: { license: { secretName: 'x' } }, tls },
      });
      const file = path.join(fx.dir, `${name}.json`);
      fs.writeFileSync(file, manifest);
      return kubectlFails(['create', '-f', file]);
    };
    expect(apply('no-names', { mode: 'Provided' })).toContain(
      'spec.tls.mode Provided needs spec.tls.secretNames.primary and .redundant',
    );
    expect(
      apply('names-only', { mode: 'Operator', secretNames: { primary: 'a', redundant: 'b' } }),
    ).toContain('spec.tls.secretNames is only for spec.tls.mode Provided');
    expect(
      apply('same-names', { mode: 'Provided', secretNames: { primary: 'a', redundant: 'a' } }),
    ).toContain('must name two different Secrets');
  });
});
