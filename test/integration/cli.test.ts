import * as k8s from '@kubernetes/client-node';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import YAML from 'yaml';
import { createNamespace, deleteNamespace, eventually, kube, type Kube } from '../support/kube.ts';
import { lspctl } from '../support/lspctl.ts';

// The pair commands against the real API server. No operator runs here: the test writes the pair's
// status through the status subresource as the operator would, and checks what the CLI reads,
// patches and waits for.

const root = path.resolve(import.meta.dirname, '../..');
const nodeBin = path.join(root, 'node_modules/.bin/node');
const base = { group: 'lpo.dev', version: 'v1alpha1', plural: 'licenseserverpairs' };
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const NAME = 'eda-tools';

let k: Kube;
let ns: string;

/** Create the CRD from crds/ unless it exists (other test files may do the same), wait until Established. */
async function ensureCrd(k: Kube): Promise<void> {
  // Through the typed model so that keys such as x-kubernetes-int-or-string survive serialisation.
  const crd = k8s.loadYaml<k8s.V1CustomResourceDefinition>(
    fs.readFileSync(path.join(root, 'crds/lpo.dev_licenseserverpairs.yaml'), 'utf8'),
  );
  try {
    await k.apiext.createCustomResourceDefinition({ body: crd });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
  await eventually('the CRD to be Established', async () => {
    const c = await k.apiext.readCustomResourceDefinition({ name: crd.metadata!.name! });
    return c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True');
  });
  // Discovery in the API server lags Established a little: wait until the resource answers.
  await eventually('the licenseserverpairs resource to be served', async () => {
    await k.custom.listClusterCustomObject(base);
    return true;
  });
}

const now = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

function member(health: 'Healthy' | 'Unhealthy', role: 'active' | 'standby', extra: object = {}) {
  return {
    podName: `${NAME}-${role}`,
    nodeName: 'node-1',
    ready: true,
    healthy: health === 'Healthy',
    health,
    role,
    epoch: 4,
    lastProbeTime: now(),
    lastProbeResult: health === 'Healthy' ? 'Success' : 'Failure',
    replication: { state: role === 'active' ? 'none' : 'in-sync', lagEntries: 0 },
    ...extra,
  };
}

/** Write status as the operator would (merge patch on the status subresource). */
async function writeStatus(status: Record<string, unknown>): Promise<void> {
  await k.custom.patchNamespacedCustomObjectStatus(
    { ...base, namespace: ns, name: NAME, body: { status } },
    mergePatch,
  );
}

async function getPair(): Promise<{
  spec: { preferredMember: string };
  metadata: { annotations?: Record<string, string> };
}> {
  return (await k.custom.getNamespacedCustomObject({ ...base, namespace: ns, name: NAME })) as never;
}

/** Run a CLI entry point as a child process with the test cluster's kubeconfig. */
function child(script: string, args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(nodeBin, [path.join(root, script), ...args], {
      env: { ...process.env, KUBECONFIG: inject('kubeconfig') },
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => resolve({ code, out, err }));
  });
}

beforeAll(async () => {
  process.env.KUBECONFIG = inject('kubeconfig');
  k = kube();
  await ensureCrd(k);
  ns = await createNamespace(k, 'cli');
  await k.custom.createNamespacedCustomObject({
    ...base,
    namespace: ns,
    body: {
      apiVersion: 'lpo.dev/v1alpha1',
      kind: 'LicenseServerPair',
      metadata: { name: NAME },
      spec: { server: { license: { secretName: 'eda-license' } }, failover: { failback: 'Manual' } },
    },
  });
  await writeStatus({
    liveMember: 'primary',
    preferredMember: 'primary',
    phase: 'Running',
    epoch: 4,
    members: { primary: member('Healthy', 'active'), redundant: member('Healthy', 'standby') },
    failoverCount: 1,
    lastFailover: {
      time: now(),
      from: 'redundant',
      to: 'primary',
      action: 'failback',
      reason: 'FailbackStable',
      detectionSeconds: 0,
    },
    conditions: [
      {
        type: 'Ready',
        status: 'True',
        reason: 'LiveMemberServing',
        message: 'primary serves',
        lastTransitionTime: now(),
      },
    ],
  });
  await k.core.createNamespacedEvent({
    namespace: ns,
    body: {
      metadata: { name: `${NAME}.failback` },
      involvedObject: {
        apiVersion: 'lpo.dev/v1alpha1',
        kind: 'LicenseServerPair',
        name: NAME,
        namespace: ns,
      },
      type: 'Normal',
      reason: 'FailedBack',
      message: 'switched back to primary (epoch 4)',
      count: 1,
      firstTimestamp: new Date(),
      lastTimestamp: new Date(),
      source: { component: 'license-pair-operator' },
    },
  });
});

afterAll(async () => {
  if (k && ns) await deleteNamespace(k, ns);
});

describe('lspctl pair against the API server', () => {
  it('pair status shows the live member, both members, the last failover, conditions and events', async () => {
    const r = await lspctl(['pair', 'status', NAME, '-n', ns]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`Name:           ${NAME}`);
    expect(r.out).toMatch(/Live member: +primary/);
    expect(r.out).toMatch(/Phase: +Running/);
    expect(r.out).toMatch(/Epoch: +4/);
    expect(r.out).toContain('  primary (live, preferred)');
    expect(r.out).toContain('  redundant (standby)');
    expect(r.out).toMatch(/Replication: +in-sync, lag 0 entries/);
    expect(r.out).toMatch(/Last failover: .*redundant → primary, failback, reason FailbackStable/);
    expect(r.out).toMatch(/Ready\s+True\s+LiveMemberServing/);
    expect(r.out).toMatch(/Normal\s+FailedBack\s+\S+\s+1\s+switched back to primary \(epoch 4\)/);

    const json = await lspctl(['pair', 'status', NAME, '-n', ns, '-o', 'json']);
    expect(JSON.parse(json.out)).toMatchObject({
      metadata: { name: NAME },
      status: { liveMember: 'primary' },
    });
  });

  it('pair list shows the pair like kubectl get lsp', async () => {
    const r = await lspctl(['pair', 'list', '-n', ns]);
    expect(r.code).toBe(0);
    expect(r.out.split('\n')[0]).toMatch(
      /^NAME\s+LIVE\s+PRIMARY\s+REDUNDANT\s+PHASE\s+FAILOVERS\s+AGE\s+REASON$/,
    );
    expect(r.out.split('\n')[1]).toMatch(
      new RegExp(`^${NAME}\\s+primary\\s+Healthy\\s+Healthy\\s+Running\\s+1\\s+\\S+$`),
    );
    const all = await lspctl(['pair', 'list', '-A']);
    expect(all.out).toMatch(new RegExp(`^${ns}\\s+${NAME}\\s+primary`, 'm'));
  });

  it('switchover --to redundant patches spec.preferredMember; --wait returns when redundant is live', async () => {
    const started = lspctl([
      'pair',
      'switchover',
      NAME,
      '-n',
      ns,
      '--to',
      'redundant',
      '--wait',
      '--timeout',
      '30s',
    ]);
    await eventually(
      'spec.preferredMember=redundant',
      async () => (await getPair()).spec.preferredMember === 'redundant',
    );
    // the operator's part: demote primary, promote redundant, move the Service
    await new Promise((r) => setTimeout(r, 500));
    await writeStatus({
      liveMember: 'redundant',
      preferredMember: 'redundant',
      epoch: 5,
      failoverCount: 2,
      members: {
        primary: member('Healthy', 'standby'),
        redundant: member('Healthy', 'active', { epoch: 5 }),
      },
    });
    const r = await started;
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain(`${NAME}: switchover to redundant requested (spec.preferredMember=redundant)`);
    expect(r.out).toMatch(new RegExp(`${NAME}: redundant is live after \\d+\\.\\ds \\(epoch 5\\)`));
  });

  it('switchover to an unhealthy member is refused with the reason from status (exit 1)', async () => {
    await writeStatus({
      members: {
        primary: member('Unhealthy', 'standby', {
          healthReason: 'ProbeFailed',
          lastProbeMessage: 'HTTP 503',
        }),
      },
    });
    const r = await lspctl(['pair', 'switchover', NAME, '-n', ns]);
    expect(r.code).toBe(1);
    expect(r.err).toBe('cannot switch over to primary: primary is Unhealthy (ProbeFailed: HTTP 503)');
    expect((await getPair()).spec.preferredMember).toBe('redundant');
  });

  it('failback sets the switchover-request annotation to a new value; --wait times out with exit 1', async () => {
    // after a failover (failback: Manual) the preferred member is back and healthy
    await k.custom.patchNamespacedCustomObject(
      { ...base, namespace: ns, name: NAME, body: { spec: { preferredMember: 'primary' } } },
      mergePatch,
    );
    await writeStatus({ members: { primary: member('Healthy', 'standby') } });
    const r = await lspctl(['pair', 'failback', NAME, '-n', ns, '--wait', '--timeout', '1500ms']);
    const value = (await getPair()).metadata.annotations?.['lpo.dev/switchover-request'];
    expect(value).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(r.out).toContain(`failback to primary requested (lpo.dev/switchover-request=${value})`);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /^timed out after 1s waiting for primary to become live: live is redundant; primary is Healthy/,
    );

    // a second request gets a new value, so the operator sees a new request
    await new Promise((res) => setTimeout(res, 5));
    expect((await lspctl(['pair', 'failback', NAME, '-n', ns])).code).toBe(0);
    expect((await getPair()).metadata.annotations?.['lpo.dev/switchover-request']).not.toBe(value);
  });

  it('a missing pair exits 1 with a clear message (lspctl and kubectl-lsp as processes)', async () => {
    const r = await child('src/cli/lspctl.ts', ['pair', 'status', 'no-such-pair', '-n', ns]);
    expect(r.code).toBe(1);
    expect(r.err.trim()).toBe(`lspctl: licenseserverpair "no-such-pair" in namespace "${ns}" not found`);
    const s = await child('src/cli/kubectl-lsp.ts', [
      'switchover',
      'no-such-pair',
      '-n',
      ns,
      '--to',
      'primary',
    ]);
    expect(s.code).toBe(1);
    expect(s.err.trim()).toBe(`error: licenseserverpair "no-such-pair" in namespace "${ns}" not found`);
  });

  it('kubectl-lsp status works as a process; usage errors exit 2', async () => {
    const r = await child('src/cli/kubectl-lsp.ts', ['-n', ns, 'status', NAME]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/Live member: +redundant/);
    expect((await child('src/cli/kubectl-lsp.ts', ['status'])).code).toBe(2);
  });

  it('an unreachable API server exits 3', async () => {
    const dir = fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'lspctl-'));
    const kc = path.join(dir, 'kubeconfig');
    fs.writeFileSync(
      kc,
      YAML.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          { name: 'gone', cluster: { server: 'https://127.0.0.1:1', 'insecure-skip-tls-verify': true } },
        ],
        users: [{ name: 'u', user: { token: 'x' } }],
        contexts: [{ name: 'gone', context: { cluster: 'gone', user: 'u' } }],
        'current-context': 'gone',
      }),
    );
    const r = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const p = spawn(nodeBin, [path.join(root, 'src/cli/lspctl.ts'), 'pair', 'list'], {
        env: { ...process.env, KUBECONFIG: kc },
      });
      let err = '';
      p.stderr.on('data', (d: Buffer) => (err += d.toString()));
      p.on('exit', (code) => resolve({ code, err }));
    });
    fs.rmSync(dir, { recursive: true, force: true });
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/^lspctl: cannot reach the Kubernetes API server https:\/\/127\.0\.0\.1:1/);
  });
});

describe("lspctl pair status: probe times from the operator's metrics", () => {
  it('without an operator pod it says the probe times are unknown and shows what the status records', async () => {
    const r = await lspctl(['pair', 'status', NAME, '-n', ns, '--operator-namespace', ns]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(
      `Probe times:    unknown (no running operator pod with labels app.kubernetes.io/name=license-pair-operator in namespace ${ns}`,
    );
    expect(r.out).toMatch(/Checks: +every 2 s; Success since /);
  });

  it('reads an operator pod through the pod proxy (name:port) and says why it could not', async () => {
    // Played as the kubelet would: a Running operator pod whose metrics port is named `metrics`.
    // Its address is loopback, which the API server's proxy refuses after it has found the pod
    // and its port: the answer proves the request reached the right pod, without an operator.
    const name = 'lpo-operator-0';
    await k.core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name, labels: { 'app.kubernetes.io/name': 'license-pair-operator' } },
        spec: {
          containers: [
            {
              name: 'operator',
              image: 'example.invalid/none:1',
              ports: [
                { name: 'health', containerPort: 8081 },
                { name: 'metrics', containerPort: 8080 },
              ],
            },
          ],
        },
      },
    });
    try {
      await k.core.patchNamespacedPodStatus(
        {
          namespace: ns,
          name,
          body: { status: { phase: 'Running', podIP: '127.0.0.2', podIPs: [{ ip: '127.0.0.2' }] } },
        },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
      );
      const r = await lspctl(['pair', 'status', NAME, '-n', ns, '--operator-namespace', ns]);
      expect(r.code).toBe(0);
      expect(r.out).toContain(
        `Probe times:    unknown (cannot read the operator's metrics: ${ns}/${name}: the API server answered 400: address not allowed)`,
      );
      expect(r.out).toMatch(/Checks: +every 2 s; Success since /);

      const wide = await lspctl(['pair', 'list', '-n', ns, '-o', 'wide', '--operator-namespace', ns]);
      expect(wide.code).toBe(0);
      expect(wide.out.split('\n')[1]).toMatch(new RegExp(`^${NAME}\\s.*\\s<unknown>\\s+<unknown>$`));
      expect(wide.err).toContain('warning: the last checks are unknown: cannot read the operator');
    } finally {
      await k.core.deleteNamespacedPod({ namespace: ns, name, gracePeriodSeconds: 0 });
    }
  });
});
