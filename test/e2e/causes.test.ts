import * as k8s from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signLicence } from '../../src/license-server/licence-file.ts';
import { body as sampleBody } from '../../samples/make-sample-license.ts';
import { helm, kubeconfigPath, kubectl, must, repoRoot, tool } from '../chart/lib.ts';
import { installOperatorChart } from '../cluster/operator-chart.ts';
import { requestOnNewConnection } from '../support/http.ts';
import { clientServerName, pairCa } from '../support/pair-tls.ts';
import { eventually } from '../support/kube.ts';

// Why a pair cannot serve, on the real node with real pods: the mistakes a new user makes (no
// licence Secret, an image that does not exist, requests no node can fit, a container that
// crashes, a file that is not a licence) each show on the pair as the Ready condition's reason
// with the fix in its message, as one Event, in the REASON column of `kubectl get lsp` and in the
// operator's metrics; and making the fix, and nothing else, makes the pair serve. The chaos case:
// the Secret replaced by a broken file while the pair serves — it keeps serving the licence it
// has and reports the refused update.

const id = randomBytes(3).toString('hex');
const operatorNs = `lpo-e2e-why-${id}`;
const ns = `e2e-why-${id}`;
const release = `lpo-why-${id}`;
const GROUP = { group: 'lpo.dev', version: 'v1alpha1', plural: 'licenseserverpairs' };
const IMAGE = 'license-pair-operator/license-server:0.1.0';

const kcfg = new k8s.KubeConfig();
kcfg.loadFromFile(kubeconfigPath);
const core = kcfg.makeApiClient(k8s.CoreV1Api);
const custom = kcfg.makeApiClient(k8s.CustomObjectsApi);
const kc = (args: string[], input?: string) =>
  must(tool('kubectl'), ['--kubeconfig', kubeconfigPath, ...args], input === undefined ? {} : { input });

type Condition = { type: string; status: string; reason: string; message: string };
type Status = { liveMember?: string; conditions?: Condition[] };

const demoKey = readFileSync(path.join(repoRoot, 'samples/demo-issuer/DEMO-ONLY-private-key.pem'), 'utf8');
const publicKey = YAML.parseAllDocuments(
  readFileSync(path.join(repoRoot, 'samples/licenseserverpair.yaml'), 'utf8'),
)
  .map((d) => d.toJS() as { kind: string; stringData?: Record<string, string> })
  .find((d) => d.kind === 'Secret')!.stringData!['public-key.pem']!;
const licenceFor = (pair: string) =>
  `${JSON.stringify(signLicence({ ...sampleBody, issuedTo: `${ns}/${pair}` }, demoKey), null, 2)}\n`;

function applySecret(pair: string, licence = licenceFor(pair)): void {
  kc(
    ['apply', '-f', '-'],
    YAML.stringify({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: `${pair}-license`, namespace: ns },
      stringData: { 'license.json': licence, 'public-key.pem': publicKey },
    }),
  );
}

function applyPair(pair: string, server: Record<string, unknown> = {}): void {
  kc(
    ['apply', '-f', '-'],
    YAML.stringify({
      apiVersion: 'lpo.dev/v1alpha1',
      kind: 'LicenseServerPair',
      metadata: { name: pair, namespace: ns },
      spec: {
        server: {
          image: IMAGE,
          license: { secretName: `${pair}-license` },
          resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
          ...server,
        },
        healthCheck: { periodSeconds: 1, failureThreshold: 2 },
      },
    }),
  );
}

const patchServer = (pair: string, server: Record<string, unknown>) =>
  kc(['patch', 'lsp', pair, '-n', ns, '--type', 'merge', '-p', JSON.stringify({ spec: { server } })]);

async function status(pair: string): Promise<Status> {
  const o = (await custom.getNamespacedCustomObject({ ...GROUP, namespace: ns, name: pair })) as {
    status?: Status;
  };
  return o.status ?? {};
}

/** Waits for `type` to have `reason` (and a message matching `message`: the members report one after the other). */
async function conditionBecomes(
  pair: string,
  type: string,
  reason: string,
  timeoutMs = 120_000,
  message?: RegExp,
): Promise<Condition> {
  return eventually(
    `${pair}: ${type} reason ${reason}${message ? ` and a message matching ${message}` : ''}`,
    async () => {
      const c = (await status(pair)).conditions?.find((x) => x.type === type);
      return c?.reason === reason && (!message || message.test(c.message)) ? c : undefined;
    },
    timeoutMs,
    250,
  );
}

async function serves(pair: string, timeoutMs = 180_000): Promise<void> {
  await conditionBecomes(pair, 'Ready', 'LiveMemberServing', timeoutMs);
  // Through the Service, as a client would.
  const svc = await core.readNamespacedService({ namespace: ns, name: pair });
  // TLS is on by default: a client verifies the pair with the bundle the operator publishes.
  const url = `https://${svc.spec!.clusterIP}:${svc.spec!.ports![0]!.port}/v1/checkout`;
  const tls = { ca: await pairCa(core, ns, pair), servername: clientServerName(ns, pair) };
  await eventually(`${pair}: a checkout through the Service`, async () => {
    const r = await requestOnNewConnection(url, {
      tls,
      json: {
        feature: 'sim',
        clientId: `e2e-why-${randomBytes(4).toString('hex')}`,
        user: 'u',
        host: `h-${randomBytes(4).toString('hex')}`,
      },
      timeoutMs: 2000,
    }).catch(() => undefined);
    return r?.status === 200;
  });
}

async function events(pair: string, reason: string): Promise<k8s.CoreV1Event[]> {
  const list = await core.listNamespacedEvent({
    namespace: ns,
    fieldSelector: `involvedObject.name=${pair},involvedObject.kind=LicenseServerPair,reason=${reason}`,
  });
  return list.items;
}

function reasonColumn(pair: string): string {
  const [header, row] = kc(['get', 'lsp', pair, '-n', ns]).trim().split('\n');
  return row!.slice(header!.indexOf('REASON')).trim();
}

async function readyMetric(pair: string): Promise<string | undefined> {
  const pods = await core.listNamespacedPod({
    namespace: operatorNs,
    labelSelector: 'app.kubernetes.io/name=license-pair-operator',
  });
  for (const p of pods.items) {
    if (!p.status?.podIP) continue;
    const r = await requestOnNewConnection(`http://${p.status.podIP}:8080/metrics`, {
      timeoutMs: 2000,
    }).catch(() => undefined);
    const line = r?.body
      .split('\n')
      .find(
        (l) =>
          l.startsWith('lpo_pair_ready{') && l.includes(`pair="${pair}"`) && l.includes(`namespace="${ns}"`),
      );
    if (line) return line;
  }
  return undefined;
}

/** The cause on the pair: Ready False with `reason`, one Warning Event, the REASON column, the metric. */
async function named(pair: string, reason: string, message: RegExp): Promise<void> {
  const ready = await conditionBecomes(pair, 'Ready', reason, 120_000, message);
  expect(ready.status).toBe('False');
  expect(ready.message).toMatch(message);
  const evs = await eventually(`${pair}: the ${reason} Event`, async () => {
    const e = await events(pair, reason);
    return e.length > 0 ? e : undefined;
  });
  expect(evs).toHaveLength(1);
  expect(evs[0]!.type).toBe('Warning');
  expect(reasonColumn(pair)).toBe(reason);
  await eventually(`${pair}: lpo_pair_ready{reason="${reason}"} 0`, async () =>
    (await readyMetric(pair))?.match(new RegExp(`reason="${reason}"\\} 0$`)),
  );
  process.stdout.write(`${pair}: ${reason}: ${ready.message}\n`);
}

beforeAll(async () => {
  kc(['create', 'namespace', ns]);
  installOperatorChart(release, operatorNs, [
    'image.pullPolicy=Never',
    `watchNamespaces[0]=${ns}`,
    'replicaCount=1',
  ]);
});

afterAll(() => {
  kubectl(['delete', 'namespace', ns, '--wait=false']);
  helm(['uninstall', release, '-n', operatorNs, '--wait', '--timeout', '120s']);
  kubectl(['delete', 'namespace', operatorNs, '--wait=false']);
});

describe('why a pair cannot serve, on the real node', () => {
  it('no licence Secret: named with the command that makes it; creating it makes the pair serve', async () => {
    applyPair('no-secret');
    await named('no-secret', 'LicenceSecretMissing', /the licence Secret no-secret-license does not exist/);
    applySecret('no-secret');
    await serves('no-secret');
  });

  it('an image that does not exist: named with the image; correcting it makes the pair serve', async () => {
    applySecret('bad-image');
    applyPair('bad-image', { image: 'lpo.local/no-such-license-server:0.0.0' });
    await named(
      'bad-image',
      'ImagePullFailed',
      /the image lpo\.local\/no-such-license-server:0\.0\.0 cannot be pulled/,
    );
    patchServer('bad-image', { image: IMAGE });
    await serves('bad-image');
  });

  it('requests no node can fit: named with the scheduler’s message; fitting requests make the pair serve', async () => {
    applySecret('too-big');
    applyPair('too-big', { resources: { requests: { cpu: '500', memory: '64Mi' } } });
    await named(
      'too-big',
      'Unschedulable',
      /cannot be scheduled \(0\/1 nodes are available: .*Insufficient cpu/,
    );
    patchServer('too-big', {
      resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
    });
    await serves('too-big');
  });

  it('a container that crashes: named with its exit and last log line; removing the cause makes the pair serve', async () => {
    applySecret('crashing');
    applyPair('crashing', { env: [{ name: 'LS_PORT', value: 'not-a-port' }] });
    await named(
      'crashing',
      'CrashLooping',
      /keeps crashing \(restarted \d+ times?, last exit: Error, code 2: license-server: LS_PORT must be/,
    );
    kc([
      'patch',
      'lsp',
      'crashing',
      '-n',
      ns,
      '--type',
      'json',
      '-p',
      '[{"op":"remove","path":"/spec/server/env"}]',
    ]);
    await serves('crashing');
  });

  it('a file that is not a licence: both members refuse it, nobody serves; a valid file makes the pair serve', async () => {
    applySecret('not-a-licence', '{"format": 1, "features": []}');
    applyPair('not-a-licence');
    await named(
      'not-a-licence',
      'LicenceInvalid',
      /^both members: the licence file was refused \(MALFORMED: /,
    );
    expect((await status('not-a-licence')).liveMember ?? '').toBe('');
    applySecret('not-a-licence');
    await serves('not-a-licence');
  });

  it('chaos: the Secret replaced by a broken file while serving: the pair keeps serving and reports the refused update', async () => {
    // The pair of the first scenario serves.
    await serves('no-secret');
    applySecret('no-secret', 'garbage, not JSON');
    const c = await conditionBecomes('no-secret', 'LicenceValid', 'UpdateRefused');
    expect(c.message).toMatch(/a new licence file in Secret no-secret-license was refused \(MALFORMED: /);
    expect(await events('no-secret', 'UpdateRefused')).toHaveLength(1);
    // Still serving, through the Service, the licence it had.
    const st = await status('no-secret');
    expect(st.conditions?.find((x) => x.type === 'Ready')).toMatchObject({
      status: 'True',
      reason: 'LiveMemberServing',
    });
    await serves('no-secret', 10_000);
    applySecret('no-secret');
    await conditionBecomes('no-secret', 'LicenceValid', 'Valid');
  });
});
