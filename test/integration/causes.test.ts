import * as k8s from '@kubernetes/client-node';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIssuerKeys, signLicence } from '../../src/license-server/licence-file.ts';
import { feature, licenceBody } from '../unit/license-server/fixtures.ts';
import { createNamespace, deleteNamespace, eventually, kube, type Kube } from '../support/kube.ts';
import { kubectl } from '../support/kubectl.ts';
import {
  StandInKubelet,
  clientServiceMember,
  createLoopbackPairObject,
  readPair,
  startLoopbackPair,
  type LoopbackPair,
} from '../support/members.ts';
import { ensureCrd, OperatorProcess } from '../support/operator.ts';

// Why a pair cannot serve, on a real API server with real licence-server processes: the licence
// Secret missing (the stand-in kubelet keeps the pods in ContainerCreating while the Secret does
// not exist, as a kubelet that cannot mount it does), a licence file both members refuse, a
// licence about to expire, and a broken licence file written over a good one while serving.
// Each cause must show as the Ready (or LicenceValid) condition's reason, as one Event, in the
// `kubectl get` REASON column and in the metrics; and its fix must make the pair serve again
// without anything else being touched.

const PAIR = 'diag';
const SECRET = 'diag-licence';
const DAY_MS = 86_400_000;

let k: Kube;
let ns: string;
let loopback: LoopbackPair;
let kubelet: StandInKubelet;
let operator: OperatorProcess;
const node = `causes-${Math.random().toString(36).slice(2, 8)}`;

type Condition = { type: string; status: string; reason: string; message: string };
const pair = () => readPair(k, ns, PAIR);

async function condition(type: string): Promise<Condition | undefined> {
  const p = (await pair()) as { status?: { conditions?: Condition[] } };
  return p.status?.conditions?.find((c) => c.type === type);
}

/**
 * Waits for the condition `type` to have `reason` (and `status`, and a message matching `message`:
 * the members report one after the other), and returns it.
 */
function conditionBecomes(
  type: string,
  reason: string,
  status: string,
  timeoutMs = 30_000,
  message?: RegExp,
): Promise<Condition> {
  return eventually(
    `${type} ${status} ${reason}${message ? ` and a message matching ${message}` : ''}`,
    async () => {
      const c = await condition(type);
      return c?.reason === reason && c.status === status && (!message || message.test(c.message))
        ? c
        : undefined;
    },
    timeoutMs,
    100,
  );
}

async function eventsFor(reason: string): Promise<k8s.CoreV1Event[]> {
  const list = await k.core.listNamespacedEvent({
    namespace: ns,
    fieldSelector: `involvedObject.name=${PAIR},involvedObject.kind=LicenseServerPair,reason=${reason}`,
  });
  return list.items;
}

/** One Event for the cause (its count may grow only if the same cause is reported again). */
async function oneEvent(reason: string, message: RegExp): Promise<void> {
  const evs = await eventually(`the ${reason} Event`, async () => {
    const e = await eventsFor(reason);
    return e.length > 0 ? e : undefined;
  });
  expect(evs).toHaveLength(1);
  expect(evs[0]!.type).toBe('Warning');
  expect(evs[0]!.message).toMatch(message);
}

function reasonColumn(): string {
  // The printer column itself, as `kubectl get lsp` shows it.
  const wide = kubectl(['get', 'lsp', PAIR, '-n', ns]);
  const [header, row] = wide.trim().split('\n');
  const at = header!.indexOf('REASON');
  expect(at, header).toBeGreaterThan(0);
  return row!.slice(at).trim();
}

async function readyMetric(): Promise<Record<string, number>> {
  const text = await operator.metrics();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^lpo_pair_ready\{([^}]*)\} (\S+)$/.exec(line);
    if (!m || !m[1]!.includes(`pair="${PAIR}"`) || !m[1]!.includes(`namespace="${ns}"`)) continue;
    out[/reason="([^"]*)"/.exec(m[1]!)![1]!] = Number(m[2]);
  }
  return out;
}

beforeAll(async () => {
  k = kube();
  ensureCrd(kubectl);
  ns = await createNamespace(k, 'causes');
  await k.core.createNode({ body: { metadata: { name: node, labels: { 'kubernetes.io/hostname': node } } } });
  loopback = await startLoopbackPair(k, ns, PAIR);
  kubelet = new StandInKubelet(
    k,
    ns,
    { primary: node, redundant: node },
    { mountsSecret: { name: SECRET, keys: ['license.json', 'public-key.pem'] } },
  );
  kubelet.start();
  operator = new OperatorProcess({ LEADER_ELECT: 'false', WATCH_NAMESPACE: ns });
  await operator.start();
  await createLoopbackPairObject(k, ns, PAIR, loopback.ports, {
    server: {
      license: { secretName: SECRET, expiryWarningDays: 14 },
      ports: loopback.ports,
    },
    healthCheck: { periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 2, successThreshold: 1 },
    failover: { failback: 'Manual' },
  });
});

afterAll(async () => {
  await kubelet?.stop();
  await operator?.stop();
  await loopback?.stop();
  await deleteNamespace(k, ns);
  await k.core.deleteNode({ name: node }).catch(() => undefined);
});

describe('why a pair cannot serve', () => {
  it('the licence Secret is missing: named on the pair (condition, one Event, REASON, metric); creating it makes the pair serve', async () => {
    const ready = await conditionBecomes('Ready', 'LicenceSecretMissing', 'False');
    expect(ready.message).toContain(`the licence Secret ${SECRET} does not exist`);
    expect(ready.message).toContain('kubectl create secret generic');
    expect((await condition('LicenceValid'))?.reason).toBe('LicenceSecretMissing');
    await oneEvent('LicenceSecretMissing', new RegExp(`Secret ${SECRET} does not exist`));
    expect(reasonColumn()).toBe('LicenceSecretMissing');
    await eventually('lpo_pair_ready{reason="LicenceSecretMissing"} 0', async () => {
      const m = await readyMetric();
      return m['LicenceSecretMissing'] === 0 && Object.keys(m).length === 1;
    });
    // Later reconciles (the pods are checked every second) announce nothing new.
    await new Promise((r) => setTimeout(r, 3000));
    expect(await eventsFor('LicenceSecretMissing')).toHaveLength(1);
    expect((await eventsFor('LicenceSecretMissing'))[0]!.count ?? 1).toBe(1);

    // Half a fix: the Secret without the public key.
    await k.core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: SECRET },
        stringData: { 'license.json': fs.readFileSync(loopback.fx.licenceFile, 'utf8') },
      },
    });
    const keyMissing = await conditionBecomes('Ready', 'LicenceKeyMissing', 'False');
    expect(keyMissing.message).toContain(`the licence Secret ${SECRET} has no key public-key.pem`);
    await oneEvent('LicenceKeyMissing', /has no key public-key\.pem/);
    expect(reasonColumn()).toBe('LicenceKeyMissing');

    // The fix, and nothing else.
    await k.core.patchNamespacedSecret(
      {
        namespace: ns,
        name: SECRET,
        body: { stringData: { 'public-key.pem': fs.readFileSync(loopback.fx.publicKeyFile, 'utf8') } },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    const serving = await conditionBecomes('Ready', 'LiveMemberServing', 'True', 60_000);
    expect(serving.message).toMatch(/the primary member serves/);
    // The Service follows in the same reconcile, just after the status write.
    await eventually(
      'the Service on the primary',
      async () => (await clientServiceMember(k, ns, PAIR)) === 'primary',
    );
    const licence = await conditionBecomes('LicenceValid', 'Valid', 'True');
    expect(licence.message).toMatch(/^valid; feature synth expires first, on 2099-12-31$/);
    expect(reasonColumn()).toBe('LiveMemberServing');
    // The last check, for "last ok 1 s ago" (the status records only changes of the result).
    await eventually('a recent successful check of the primary', async () => {
      const at = await operator.metricValue('lpo_member_last_probe_timestamp_seconds', {
        pair: PAIR,
        member: 'primary',
        result: 'success',
      });
      return at !== undefined && Date.now() / 1000 - at < 3;
    });
    await eventually('lpo_pair_ready{reason="LiveMemberServing"} 1 (and the old series gone)', async () => {
      const m = await readyMetric();
      return m['LiveMemberServing'] === 1 && Object.keys(m).length === 1;
    });
  });

  it('a broken licence file written over a good one while serving: the pair keeps serving and reports the refused update', async () => {
    const good = fs.readFileSync(loopback.fx.licenceFile, 'utf8');
    fs.writeFileSync(loopback.fx.licenceFile, '{"format": 1, "this is": "not a licence"');
    try {
      const c = await conditionBecomes('LicenceValid', 'UpdateRefused', 'True');
      expect(c.message).toMatch(/a new licence file in Secret diag-licence was refused \(MALFORMED: /);
      expect(c.message).toMatch(/the members keep serving the previous licence, valid until 2099-12-31/);
      await oneEvent('UpdateRefused', /was refused \(MALFORMED/);
      // Still serving, both members still healthy: the previous licence is in force.
      expect((await condition('Ready'))?.status).toBe('True');
      const p = (await pair()) as { status?: { members?: Record<string, { health?: string }> } };
      expect(p.status?.members?.primary?.health).toBe('Healthy');
      expect(p.status?.members?.redundant?.health).toBe('Healthy');
      await eventually(
        'lpo_pair_licence_update_refused 1',
        async () => (await operator.metricValue('lpo_pair_licence_update_refused', { pair: PAIR })) === 1,
      );
    } finally {
      fs.writeFileSync(loopback.fx.licenceFile, good);
    }
    await conditionBecomes('LicenceValid', 'Valid', 'True');
    expect(await operator.metricValue('lpo_pair_licence_update_refused', { pair: PAIR })).toBe(0);
  });

  it('a licence that expires within the warning window: a warning condition, one Event and the expiry metric, while it serves', async () => {
    const soon = new Date(Date.now() + 3 * DAY_MS).toISOString().slice(0, 10);
    loopback.fx.writeLicence([feature('synth', 10), feature('sim', 2, { expiry: soon })], `${ns}/${PAIR}`);
    const c = await conditionBecomes('LicenceValid', 'ExpiringSoon', 'True');
    expect(c.message).toMatch(
      new RegExp(`^feature sim expires on ${soon} \\(in [34] days\\); put a renewed licence`),
    );
    await oneEvent('ExpiringSoon', /feature sim expires/);
    expect((await condition('Ready'))?.status).toBe('True');
    await eventually('lpo_pair_licence_expiry_timestamp_seconds', async () => {
      const at = await operator.metricValue('lpo_pair_licence_expiry_timestamp_seconds', { pair: PAIR });
      return at === Date.parse(soon) / 1000;
    });
    expect(await operator.metricValue('lpo_pair_licence_warning_seconds', { pair: PAIR })).toBe(14 * 86_400);
  });

  it('both members refuse the licence file: no member serves, the reason says so; a valid file makes the pair serve', async () => {
    // The members restart (as containers do) and find a file that is not a licence.
    await loopback.members.primary.kill();
    await loopback.members.redundant.kill();
    fs.writeFileSync(loopback.fx.licenceFile, '{"format": 1}');
    await loopback.members.primary.start();
    await loopback.members.redundant.start();
    const ready = await conditionBecomes('Ready', 'LicenceInvalid', 'False', 60_000, /^both members/);
    expect(ready.message).toMatch(/^both members: the licence file was refused \(MALFORMED: /);
    expect((await condition('LicenceValid'))?.reason).toBe('LicenceInvalid');
    await oneEvent('LicenceInvalid', /the licence file was refused \(MALFORMED/);
    const p = (await pair()) as {
      status?: { liveMember?: string; members?: Record<string, { health?: string; healthReason?: string }> };
    };
    expect(p.status?.liveMember).toBe('');
    expect(p.status?.members?.primary).toMatchObject({ health: 'Unhealthy', healthReason: 'LicenceInvalid' });
    expect(p.status?.members?.redundant).toMatchObject({
      health: 'Unhealthy',
      healthReason: 'LicenceInvalid',
    });
    expect(reasonColumn()).toBe('LicenceInvalid');
    expect(await clientServiceMember(k, ns, PAIR)).not.toMatch(/^(primary|redundant)$/);

    // Signed with another issuer's key: not signed by the key in the Secret.
    const stranger = generateIssuerKeys();
    fs.writeFileSync(
      loopback.fx.licenceFile,
      JSON.stringify(
        signLicence(licenceBody([feature('synth', 10)], `${ns}/${PAIR}`), stranger.privateKeyPem),
      ),
    );
    const unsigned = await conditionBecomes(
      'Ready',
      'LicenceSignatureInvalid',
      'False',
      30_000,
      /^both members/,
    );
    expect(unsigned.message).toMatch(
      /^both members: the licence file is not signed by the issuer key in Secret diag-licence/,
    );
    await oneEvent('LicenceSignatureInvalid', /not signed by the issuer key/);
    expect(reasonColumn()).toBe('LicenceSignatureInvalid');

    // Every feature expired.
    loopback.fx.writeLicence(
      [feature('synth', 10, { start: '2024-01-01', expiry: '2025-01-01' })],
      `${ns}/${PAIR}`,
    );
    const expired = await conditionBecomes('Ready', 'LicenceExpired', 'False', 30_000, /^both members/);
    expect(expired.message).toMatch(
      /^both members: the licence has expired \(EXPIRED: feature synth expired on 2025-01-01\)/,
    );
    await oneEvent('LicenceExpired', /has expired/);
    expect((await condition('LicenceValid'))?.reason).toBe('LicenceExpired');
    expect(reasonColumn()).toBe('LicenceExpired');

    loopback.fx.writeLicence([feature('synth', 10)], `${ns}/${PAIR}`);
    await conditionBecomes('Ready', 'LiveMemberServing', 'True', 60_000);
    await conditionBecomes('LicenceValid', 'Valid', 'True');
    await eventually('the Service on a member', async () =>
      /^(primary|redundant)$/.test((await clientServiceMember(k, ns, PAIR)) ?? ''),
    );
  });
});
