import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  chartDir,
  combos,
  ensurePrometheusOperatorCrds,
  adoptCrd,
  crdName,
  helm,
  kubeconfigPath,
  kubectl,
  must,
  repoRoot,
  setArgs,
  tool,
} from '../chart/lib.ts';
import {
  emptyDashboardQueries,
  LocalPrometheus,
  makeLicenceTraffic,
  preferMember,
  readPair,
  until,
  waitLive,
  waitStandbyReady,
} from '../chart/live-pair.ts';

// The chart on a real node with the locally built images (the e2e global setup runs `npm run images`):
// `helm install` with monitoring enabled, the operator becomes ready with one leader, the sample pair
// (samples/licenseserverpair.yaml, as is) comes up with a live member, every dashboard query returns
// data from a real Prometheus, `helm upgrade` rolls the operator without a flip of the pair, and
// `helm uninstall` leaves nothing but the CRD.

const id = randomBytes(3).toString('hex');
const ns = `lpo-e2e-${id}`;
const release = `lpo-${id}`;
const fullname = `${release}-license-pair-operator`;
const sampleNs = 'licensing';
const pair = 'eda-tools';
const kc = (args: string[], input?: string) =>
  must(tool('kubectl'), ['--kubeconfig', kubeconfigPath, ...args], { input });
const values = ['image.pullPolicy=Never', ...combos.monitoring!, 'monitoring.serviceMonitor.enabled=false'];
let createdSampleNs = false;
const prom = new LocalPrometheus();

function leader(): string | undefined {
  const r = kubectl([
    'get',
    'lease',
    'license-pair-operator-leader',
    '-n',
    ns,
    '-o',
    'jsonpath={.spec.holderIdentity}',
  ]);
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
}

beforeAll(() => {
  ensurePrometheusOperatorCrds();
  kc(['create', 'namespace', ns]);
  if (kubectl(['get', 'crd', crdName]).status === 0) {
    // A CRD applied with kubectl (by another test run) is adopted, as docs/install.md describes.
    adoptCrd(release, ns);
  }
});

afterAll(async () => {
  await prom.stop();
  if (createdSampleNs) kubectl(['delete', 'namespace', sampleNs, '--wait=false']);
  helm(['uninstall', release, '-n', ns, '--wait', '--timeout', '120s']);
  kubectl(['delete', 'namespace', ns, '--wait=false']);
});

describe('the chart on a real node', () => {
  it('installs with monitoring enabled; 2 operator replicas become ready, one of them leads', async () => {
    const r = helm(
      ['install', release, chartDir, '-n', ns, ...setArgs(values), '--wait', '--timeout', '180s'],
      { timeoutMs: 200_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    const dep = JSON.parse(kc(['get', 'deployment', fullname, '-n', ns, '-o', 'json'])) as {
      status: { readyReplicas?: number };
    };
    expect(dep.status.readyReplicas).toBe(2);
    const holder = await until('a leader', async () => leader(), 60_000);
    expect(kc(['get', 'pods', '-n', ns, '-o', 'name'])).toContain(holder);
  });

  it('the sample pair comes up with a live member and a ready standby', async () => {
    if (kubectl(['get', 'namespace', sampleNs]).status !== 0) {
      kc(['create', 'namespace', sampleNs]);
      createdSampleNs = true;
    }
    kc(['apply', '-f', path.join(repoRoot, 'samples/licenseserverpair.yaml')]);
    const live = await waitLive(sampleNs, pair);
    expect(['primary', 'redundant']).toContain(live);
    await waitStandbyReady(sampleNs, pair);
    const table = kc(['get', 'lsp', '-n', sampleNs]);
    expect(table).toMatch(/LIVE/);
    expect(table).toContain(live);
  });

  it('every dashboard query returns data from a real Prometheus', async () => {
    await prom.start();
    await makeLicenceTraffic(sampleNs, pair);
    // A planned switchover gives the failover panels data without breaking the pair.
    const before = readPair(sampleNs, pair).status!.liveMember!;
    const other = before === 'primary' ? 'redundant' : 'primary';
    preferMember(sampleNs, pair, other);
    await waitLive(sampleNs, pair, 120_000, before);
    await waitStandbyReady(sampleNs, pair);
    await makeLicenceTraffic(sampleNs, pair);
    let empty: string[] = [];
    await until(
      'every dashboard query to return series',
      async () => {
        empty = await emptyDashboardQueries(prom, sampleNs, pair);
        return empty.length === 0;
      },
      120_000,
    ).catch(() => undefined);
    expect(empty).toEqual([]);
  });

  it('upgrades without a flip of the pair', async () => {
    const before = readPair(sampleNs, pair) as { status: { liveMember: string; failoverCount?: number } };
    const r = helm(
      [
        'upgrade',
        release,
        chartDir,
        '-n',
        ns,
        ...setArgs([...values, 'logLevel=debug']),
        '--wait',
        '--timeout',
        '180s',
      ],
      {
        timeoutMs: 200_000,
      },
    );
    expect(r.status, r.stderr).toBe(0);
    await until('a leader after the rollout', async () => leader(), 60_000);
    await new Promise((res) => setTimeout(res, 5_000));
    const after = readPair(sampleNs, pair) as typeof before;
    expect(after.status.liveMember).toBe(before.status.liveMember);
    expect(after.status.failoverCount ?? 0).toBe(before.status.failoverCount ?? 0);
  });

  it('uninstalls leaving nothing but the CRD', async () => {
    kc(['delete', 'lsp', pair, '-n', sampleNs, '--wait=true', '--timeout=120s']);
    const r = helm(['uninstall', release, '-n', ns, '--wait', '--timeout', '120s']);
    expect(r.status, r.stderr).toBe(0);
    expect(kubectl(['get', 'crd', crdName]).status).toBe(0);
    await until(
      'the release objects and pods to be gone',
      async () =>
        !kc([
          'get',
          'deployments,replicasets,pods,services,serviceaccounts,configmaps,roles,rolebindings,poddisruptionbudgets,podmonitors,prometheusrules',
          '-n',
          ns,
          // Every namespace has its own `default` ServiceAccount and `kube-root-ca.crt` ConfigMap:
          // look only at what the release made.
          '-l',
          `app.kubernetes.io/instance=${release}`,
          '-o',
          'name',
        ]).trim() &&
        !kc([
          'get',
          'clusterroles,clusterrolebindings',
          '-l',
          `app.kubernetes.io/instance=${release}`,
          '-o',
          'name',
        ]).trim(),
      120_000,
    );
  });
});
