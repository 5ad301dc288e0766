import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import {
  chartDir,
  adoptCrd,
  clusterReachable,
  crdName,
  combos,
  ensurePrometheusOperatorCrds,
  helm,
  kubectl,
  must,
  readYaml,
  renderText,
  repoRoot,
  setArgs,
  tool,
  kubeconfigPath,
} from './lib.ts';
import { waitForCrdsEstablished } from '../support/crd-established.ts';

// The chart against the real API server of the local cluster (`npm run cluster -- up`): every
// rendered object accepted with --dry-run=server, RBAC checked with `kubectl auth can-i`, and a real
// helm install / upgrade / uninstall. Pods only run with a node (test/e2e/chart.test.ts); here the
// control plane creates the Deployment's ReplicaSet and pods.

const reachable = clusterReachable();
const id = randomBytes(3).toString('hex');
const releaseNs = `lpo-chart-${id}`;
const watched = [`lpo-chart-w1-${id}`, `lpo-chart-w2-${id}`];
const other = `lpo-chart-other-${id}`;
const release = `lpo-${id}`;
const nsRelease = `lpo-ns-${id}`;
const kc = (args: string[], input?: string) =>
  must(tool('kubectl'), ['--kubeconfig', kubeconfigPath, ...args], { input });
const sa = (name: string, ns = releaseNs) => `system:serviceaccount:${ns}:${name}`;

function canI(as: string, verb: string, resource: string, ns?: string): boolean {
  // `pods/exec` on the command line would mean "the pod named exec": pass subresources explicitly.
  const [res, sub] = resource.split('/');
  const r = kubectl([
    'auth',
    'can-i',
    verb,
    res!,
    `--as=${as}`,
    ...(sub ? [`--subresource=${sub}`] : []),
    ...(ns ? ['-n', ns] : []),
  ]);
  return r.stdout.trim() === 'yes';
}

function crdExists(): boolean {
  return kubectl(['get', 'crd', crdName]).status === 0;
}

describe.skipIf(!reachable)('the chart on a real API server', () => {
  beforeAll(() => {
    ensurePrometheusOperatorCrds();
    // The samples are checked against the CRD: make sure it is served, whatever ran before.
    kc(['apply', '--server-side', '--force-conflicts', '-f', path.join(repoRoot, 'crds')]);
    waitForCrdsEstablished(kc, [crdName]);
    for (const ns of [releaseNs, ...watched, other]) kc(['create', 'namespace', ns]);
  });

  afterAll(() => {
    helm(['uninstall', release, '-n', releaseNs, '--wait', '--timeout', '60s']);
    helm(['uninstall', nsRelease, '-n', releaseNs, '--wait', '--timeout', '60s']);
    kubectl(['delete', 'namespace', releaseNs, ...watched, other, '--wait=false']);
  });

  describe('kubectl apply --dry-run=server', () => {
    for (const [name, sets] of Object.entries(combos)) {
      it(`accepts every object of the ${name} combination`, () => {
        const real = sets.map((s) =>
          s.replace('licensing,licensing-b', watched.join(',')).replace('{licensing}', `{${watched[0]}}`),
        );
        const text = renderText(real, releaseNs, `dry-${id}`);
        const r = kubectl(
          [
            'apply',
            '--server-side',
            '--force-conflicts',
            '--field-manager=lpo-chart-test',
            '--dry-run=server',
            '-f',
            '-',
          ],
          {
            input: text,
          },
        );
        expect(r.status, r.stderr).toBe(0);
        const kinds = YAML.parseAllDocuments(text).filter((d) => d.toJS()).length;
        expect(r.stdout.trim().split('\n')).toHaveLength(kinds);
        expect(r.stdout).toContain('(server dry run)');
      });
    }

    it('accepts the samples (the pair against the CRD schema, its licence Secret)', () => {
      const created = kubectl(['get', 'namespace', 'licensing']).status !== 0;
      if (created) kc(['create', 'namespace', 'licensing']);
      try {
        const r = kubectl([
          'apply',
          '--dry-run=server',
          '-f',
          path.join(repoRoot, 'samples', 'licenseserverpair.yaml'),
        ]);
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout).toContain('licenseserverpair.lpo.dev/eda-tools created (server dry run)');
        expect(r.stdout).toContain('secret/eda-tools-license created (server dry run)');
      } finally {
        if (created) kubectl(['delete', 'namespace', 'licensing', '--wait=false']);
      }
    });
  });

  describe('helm install, upgrade, uninstall (cluster-wide)', () => {
    const fullname = `${release}-license-pair-operator`;

    it('installs: CRD kept-policy, RBAC, the operator Deployment with 2 replicas, and NOTES with the next step', () => {
      const crdCopy = readYaml(path.join(chartDir, 'files/crds/lpo.dev_licenseserverpairs.yaml'));
      expect(crdCopy, 'files/crds is stale: node test/chart/sync-crds.ts').toEqual(
        readYaml(path.join(repoRoot, 'crds/lpo.dev_licenseserverpairs.yaml')),
      );
      if (crdExists()) adoptCrd(release, releaseNs);
      const r = helm([
        'install',
        release,
        chartDir,
        '-n',
        releaseNs,
        '--set',
        'image.pullPolicy=Never',
        '--wait=false',
        '--timeout',
        '120s',
      ]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain('kubectl apply -f samples/licenseserverpair.yaml');
      expect(r.stdout).toContain('kubectl get lsp -n licensing');
      const crd = JSON.parse(kc(['get', 'crd', crdName, '-o', 'json'])) as {
        metadata: { annotations: Record<string, string> };
      };
      expect(crd.metadata.annotations['helm.sh/resource-policy']).toBe('keep');
      const dep = JSON.parse(kc(['get', 'deployment', fullname, '-n', releaseNs, '-o', 'json'])) as {
        spec: { replicas: number; template: { spec: { serviceAccountName: string } } };
      };
      expect(dep.spec.replicas).toBe(2);
      expect(dep.spec.template.spec.serviceAccountName).toBe(fullname);
      kc(['get', 'clusterrole', fullname]);
      kc(['get', 'pdb', fullname, '-n', releaseNs]);
      kc(['get', 'service', `${fullname}-metrics`, '-n', releaseNs]);
    });

    it('the ServiceAccount may do what the operator needs, everywhere, and nothing dangerous', () => {
      const me = sa(fullname);
      const ns = watched[0]!;
      // The exact list is test/integration/rbac-allowlist.yaml (test/integration/rbac.test.ts); here
      // the installed release grants a sample of it.
      const allowed: [string, string, string?][] = [
        ['list', 'licenseserverpairs.lpo.dev', ns],
        ['watch', 'licenseserverpairs.lpo.dev', ns],
        ['patch', 'licenseserverpairs.lpo.dev/status', ns],
        ['create', 'pods', ns],
        ['delete', 'pods', ns],
        ['patch', 'services', ns],
        ['create', 'persistentvolumeclaims', ns],
        ['get', 'secrets', ns],
        ['create', 'secrets', ns],
        ['patch', 'poddisruptionbudgets.policy', ns],
        ['patch', 'networkpolicies.networking.k8s.io', ns],
        ['create', 'events', ns],
        ['list', 'nodes'],
        ['watch', 'nodes'],
        ['create', 'leases.coordination.k8s.io', releaseNs],
      ];
      const denied: [string, string, string?][] = [
        ['list', 'secrets', ns],
        ['watch', 'secrets', ns],
        ['update', 'secrets', ns],
        ['delete', 'secrets', ns],
        ['create', 'pods/exec', ns],
        ['create', 'pods/portforward', ns],
        ['patch', 'pods/status', ns],
        ['create', 'serviceaccounts/token', ns],
        ['escalate', 'clusterroles.rbac.authorization.k8s.io'],
        ['bind', 'clusterroles.rbac.authorization.k8s.io'],
        ['create', 'clusterrolebindings.rbac.authorization.k8s.io'],
        ['patch', 'nodes'],
        ['delete', 'nodes'],
        ['create', 'deployments.apps', ns],
        ['delete', 'licenseserverpairs.lpo.dev', ns],
        ['update', 'licenseserverpairs.lpo.dev', ns],
        ['patch', 'licenseserverpairs.lpo.dev', ns],
        ['update', 'pods', ns],
        ['delete', 'persistentvolumeclaims', ns],
        ['create', 'licenseserverpairs.lpo.dev', ns],
        ['update', 'leases.coordination.k8s.io', 'kube-system'],
        ['update', 'leases.coordination.k8s.io', ns],
        ['delete', 'namespaces'],
        ['update', 'customresourcedefinitions.apiextensions.k8s.io'],
      ];
      const wrong = [
        ...allowed.filter(([v, r, n]) => !canI(me, v, r, n)).map((x) => `denied but needed: ${x.join(' ')}`),
        ...denied
          .filter(([v, r, n]) => canI(me, v, r, n))
          .map((x) => `allowed but dangerous: ${x.join(' ')}`),
      ];
      expect(wrong).toEqual([]);
    });

    it('the control plane creates the operator pods from the Deployment (they run with a node: test/e2e/chart.test.ts)', async () => {
      const deadline = Date.now() + 60_000;
      let pods: { metadata: { name: string }; spec: { securityContext: { runAsNonRoot: boolean } } }[] = [];
      while (Date.now() < deadline) {
        pods = (
          JSON.parse(
            kc(['get', 'pods', '-n', releaseNs, '-l', `app.kubernetes.io/instance=${release}`, '-o', 'json']),
          ) as { items: typeof pods }
        ).items;
        if (pods.length === 2) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      expect(pods).toHaveLength(2);
      for (const p of pods) expect(p.spec.securityContext.runAsNonRoot).toBe(true);
    });

    it('upgrades: changed values reach the Deployment, monitoring objects appear', () => {
      const r = helm([
        'upgrade',
        release,
        chartDir,
        '-n',
        releaseNs,
        ...setArgs([
          'image.pullPolicy=Never',
          'logLevel=debug',
          ...combos.monitoring!,
          'networkPolicy.enabled=true',
        ]),
      ]);
      expect(r.status, r.stderr).toBe(0);
      const env = JSON.parse(
        kc([
          'get',
          'deployment',
          fullname,
          '-n',
          releaseNs,
          '-o',
          'jsonpath={.spec.template.spec.containers[0].env}',
        ]),
      ) as {
        name: string;
        value?: string;
      }[];
      expect(env.find((e) => e.name === 'LOG_LEVEL')?.value).toBe('debug');
      kc(['get', 'podmonitor', fullname, `${fullname}-license-servers`, '-n', releaseNs]);
      kc(['get', 'prometheusrule', fullname, '-n', releaseNs]);
      kc(['get', 'networkpolicy', fullname, '-n', releaseNs]);
      const revision = JSON.parse(must(tool('helm'), ['status', release, '-n', releaseNs, '-o', 'json'])) as {
        version: number;
      };
      expect(revision.version).toBe(2);
    });

    it('uninstalls leaving nothing behind but the CRD', async () => {
      const r = helm(['uninstall', release, '-n', releaseNs, '--wait', '--timeout', '120s']);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout + r.stderr).toMatch(/kept due to the resource policy|uninstalled/);
      expect(crdExists()).toBe(true);
      const kinds =
        'deployments,replicasets,services,serviceaccounts,configmaps,roles,rolebindings,poddisruptionbudgets,networkpolicies,podmonitors,servicemonitors,prometheusrules';
      const deadline = Date.now() + 60_000;
      let left = '';
      while (Date.now() < deadline) {
        left = kc(['get', kinds, '-A', '-l', `app.kubernetes.io/instance=${release}`, '-o', 'name']).trim();
        const pods = kc(['get', 'pods', '-n', releaseNs, '-o', 'name']).trim();
        if (!left && !pods) break;
        await new Promise((res) => setTimeout(res, 500));
      }
      expect(left).toBe('');
      const cluster = kc([
        'get',
        'clusterroles,clusterrolebindings',
        '-l',
        `app.kubernetes.io/instance=${release}`,
        '-o',
        'name',
      ]).trim();
      expect(cluster).toBe('');
    });
  });

  describe('single-namespace install', () => {
    const fullname = `${nsRelease}-license-pair-operator`;

    it('installs Roles only in the watched namespaces; the ServiceAccount can act there and nowhere else', () => {
      const r = helm([
        'install',
        nsRelease,
        chartDir,
        '-n',
        releaseNs,
        ...setArgs([
          `watchNamespaces={${watched.join(',')}}`,
          'crds.install=false',
          'image.pullPolicy=Never',
        ]),
      ]);
      expect(r.status, r.stderr).toBe(0);
      expect(kubectl(['get', 'clusterrole', fullname]).status).not.toBe(0);
      const me = sa(fullname);
      for (const ns of watched) {
        expect(canI(me, 'create', 'pods', ns), ns).toBe(true);
        expect(canI(me, 'watch', 'licenseserverpairs.lpo.dev', ns), ns).toBe(true);
        expect(canI(me, 'create', 'secrets', ns), ns).toBe(true);
        expect(canI(me, 'list', 'secrets', ns), ns).toBe(false);
      }
      expect(canI(me, 'create', 'pods', other)).toBe(false);
      expect(canI(me, 'list', 'licenseserverpairs.lpo.dev', other)).toBe(false);
      expect(canI(me, 'list', 'licenseserverpairs.lpo.dev')).toBe(false); // not cluster-wide
      expect(canI(me, 'list', 'nodes')).toBe(false);
      expect(canI(me, 'create', 'leases.coordination.k8s.io', releaseNs)).toBe(true);
      const u = helm(['uninstall', nsRelease, '-n', releaseNs, '--wait']);
      expect(u.status, u.stderr).toBe(0);
      for (const ns of watched)
        expect(kc(['get', 'roles,rolebindings', '-n', ns, '-o', 'name']).trim()).toBe('');
    });
  });

  it('the rendered CRD is the one crds/ holds (what the API server stores from either)', () => {
    const text = readFileSync(path.join(repoRoot, 'crds/lpo.dev_licenseserverpairs.yaml'), 'utf8');
    const r = kubectl(
      [
        'apply',
        '--server-side',
        '--force-conflicts',
        '--dry-run=server',
        '--field-manager=lpo-chart-test',
        '-f',
        '-',
      ],
      { input: text },
    );
    expect(r.status, r.stderr).toBe(0);
  });
});
