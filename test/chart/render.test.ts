import { readFileSync, readdirSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import {
  render as renderConfigDocs,
  docPath,
  renderChartReadme,
  chartReadmePath,
} from './gen-config-docs.ts';
import {
  chartDir,
  combos,
  find,
  helm,
  must,
  parseAll,
  readYaml,
  render,
  repoRoot,
  setArgs,
  tool,
  type K8sObject,
} from './lib.ts';

// helm lint and helm template for every documented values combination, and what the rendered
// objects must say: hardened Deployment, least-privilege RBAC, CRD policy, monitoring objects.

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[] };
type Container = {
  image: string;
  imagePullPolicy: string;
  env: { name: string; value?: string; valueFrom?: unknown }[];
  securityContext: Record<string, unknown>;
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  ports: { name: string; containerPort: number }[];
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
};
type PodSpec = {
  securityContext: Record<string, unknown>;
  containers: Container[];
  affinity?: unknown;
  topologySpreadConstraints?: unknown[];
  serviceAccountName: string;
};

const deployment = (objs: K8sObject[]) =>
  find(objs, 'Deployment') as K8sObject & { spec: { replicas: number; template: { spec: PodSpec } } };
const env = (c: Container, name: string) => c.env.find((e) => e.name === name);

describe('helm lint', () => {
  for (const [name, sets] of Object.entries(combos)) {
    it(`passes --strict for ${name}`, () => {
      const r = helm(['lint', '--strict', chartDir, ...setArgs(sets)]);
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain('0 chart(s) failed');
    });
  }

  it.each([
    ['replicaCount=0', 'replicaCount'],
    ['image.pullPolicy=Sometimes', 'pullPolicy'],
    ['logLevel=loud', 'logLevel'],
    ['bogus=1', 'bogus'],
    ['watchNamespaces={Not_A_Namespace}', 'watchNamespaces'],
    ['monitoring.podMonitor.interval=soon', 'interval'],
  ])('refuses %s through values.schema.json', (set, word) => {
    const r = helm(['lint', chartDir, '--set', set]);
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toContain(word);
  });
});

describe('helm package', () => {
  it('packages a chart that lints strictly, carries its CRD, schema and README, and renders', () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'lpo-helm-package-'));
    try {
      const version = readYaml<{ version: string }>(path.join(chartDir, 'Chart.yaml')).version;
      const r = helm(['package', chartDir, '--destination', out]);
      expect(r.status, r.stdout + r.stderr).toBe(0);
      const archive = path.join(out, `license-pair-operator-${version}.tgz`);
      expect(existsSync(archive), r.stdout).toBe(true);
      const files = must('tar', ['-tzf', archive]).split('\n');
      for (const f of ['Chart.yaml', 'values.yaml', 'values.schema.json', 'README.md', 'files/crds/'])
        expect(
          files.some((n) => n.startsWith(`license-pair-operator/${f}`)),
          f,
        ).toBe(true);
      expect(files.some((n) => n.startsWith('license-pair-operator/templates/'))).toBe(true);
      const lint = helm(['lint', '--strict', archive]);
      expect(lint.status, lint.stdout + lint.stderr).toBe(0);
      // helm prints the README without its last newline
      expect(must(tool('helm'), ['show', 'readme', archive]).trimEnd()).toBe(
        readFileSync(chartReadmePath, 'utf8').trimEnd(),
      );
      const objs = parseAll(must(tool('helm'), ['template', 'x', archive]));
      expect(find(objs, 'Deployment')).toBeDefined();
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe('helm template', () => {
  const rendered = Object.fromEntries(Object.entries(combos).map(([n, s]) => [n, render(s)]));

  it('renders every combination to objects with unique kind/namespace/name and the chart labels', () => {
    for (const [name, objs] of Object.entries(rendered)) {
      const keys = objs.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`);
      expect(new Set(keys).size, name).toBe(keys.length);
      for (const o of objs) {
        expect(o.metadata.labels?.['app.kubernetes.io/managed-by'], `${name} ${o.kind}`).toBe('Helm');
        expect(o.metadata.labels?.['app.kubernetes.io/part-of']).toBe('license-pair-operator');
      }
    }
  });

  it('runs 2 hardened replicas with leader election, probes and resources', () => {
    const d = deployment(rendered.default!);
    expect(d.spec.replicas).toBe(2);
    const pod = d.spec.template.spec;
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const c = pod.containers[0]!;
    expect(c.image).toBe('license-pair-operator/operator:0.1.0');
    expect(c.imagePullPolicy).toBe('IfNotPresent');
    expect(c.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'health' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'health' });
    expect(c.ports).toEqual([
      { name: 'metrics', containerPort: 8080, protocol: 'TCP' },
      { name: 'health', containerPort: 8081, protocol: 'TCP' },
    ]);
    expect(c.resources.requests).toBeDefined();
    expect(c.resources.limits?.memory).toBeDefined();
    expect(env(c, 'LEADER_ELECT')?.value).toBe('true');
    expect(env(c, 'WATCH_NAMESPACE')?.value).toBe('');
    expect(env(c, 'OPERATOR_NAMESPACE')?.valueFrom).toEqual({
      fieldRef: { fieldPath: 'metadata.namespace' },
    });
    expect(env(c, 'POD_NAME')?.valueFrom).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
    for (const name of [
      'LEASE_NAME',
      'LEASE_DURATION_SECONDS',
      'RENEW_DEADLINE_SECONDS',
      'RETRY_PERIOD_SECONDS',
      'METRICS_ADDR',
      'HEALTH_ADDR',
      'LOG_LEVEL',
      'MAX_CONCURRENT_RECONCILES',
    ])
      expect(env(c, name)?.value, name).toBeTruthy();
    expect(pod.affinity).toHaveProperty('podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution');
    expect(pod.topologySpreadConstraints).toHaveLength(1);
    const pdb = find(rendered.default!, 'PodDisruptionBudget') as K8sObject & {
      spec: { minAvailable: number };
    };
    expect(pdb.spec.minAvailable).toBe(1);
    expect(find(rendered['local-images']!, 'PodDisruptionBudget')).toBeUndefined(); // one replica: no PDB
    expect(deployment(rendered['local-images']!).spec.template.spec.containers[0]!.imagePullPolicy).toBe(
      'Never',
    );
  });

  it("sizes Node's memory from the values (heap, semi-spaces, malloc arenas); 0 leaves each default", () => {
    const tuned = deployment(rendered.default!).spec.template.spec.containers[0]!;
    expect(env(tuned, 'NODE_OPTIONS')?.value).toBe('--max-old-space-size=160 --max-semi-space-size=16');
    expect(env(tuned, 'MALLOC_ARENA_MAX')?.value).toBe('2');
    const custom = deployment(render(['heapLimitMiB=300', 'mallocArenaMax=4'])).spec.template.spec
      .containers[0]!;
    expect(env(custom, 'NODE_OPTIONS')?.value).toBe('--max-old-space-size=300 --max-semi-space-size=16');
    expect(env(custom, 'MALLOC_ARENA_MAX')?.value).toBe('4');
    const untuned = deployment(render(['heapLimitMiB=0', 'mallocArenaMax=0'])).spec.template.spec
      .containers[0]!;
    expect(env(untuned, 'NODE_OPTIONS')).toBeUndefined();
    expect(env(untuned, 'MALLOC_ARENA_MAX')).toBeUndefined();
  });

  it('grants cluster-wide rules through a ClusterRole, including nodes, and nothing broader', () => {
    const objs = rendered.default!;
    const cr = find(objs, 'ClusterRole') as K8sObject & { rules: Rule[] };
    expect(cr).toBeDefined();
    expect(find(objs, 'ClusterRoleBinding')).toBeDefined();
    expect(cr.rules).toContainEqual({
      apiGroups: [''],
      resources: ['nodes'],
      verbs: ['list', 'watch'],
    });
    expect(cr.rules).toContainEqual({
      apiGroups: [''],
      resources: ['secrets'],
      verbs: ['get', 'create', 'patch'],
    });
    expect(cr.rules).toContainEqual({
      apiGroups: [''],
      resources: ['configmaps'],
      verbs: ['get', 'create', 'patch'],
    });
    // The installation CA: a Role in the release namespace, get and update by name only.
    const caRole = find(objs, 'Role', 'lpo-license-pair-operator-ca') as K8sObject & { rules: Rule[] };
    expect(caRole.metadata.namespace).toBe('lpo-system');
    expect(caRole.rules).toEqual([
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
      {
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames: ['license-pair-operator-ca'],
        verbs: ['get', 'update'],
      },
    ]);
    const leader = find(objs, 'Role', 'lpo-license-pair-operator-leader-election') as K8sObject & {
      rules: Rule[];
    };
    expect(leader.metadata.namespace).toBe('lpo-system');
    expect(leader.rules).toEqual([
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      {
        apiGroups: ['coordination.k8s.io'],
        resources: ['leases'],
        resourceNames: ['license-pair-operator-leader'],
        verbs: ['get', 'update'],
      },
    ]);
    for (const o of Object.values(rendered).flat())
      for (const r of (o as { rules?: Rule[] }).rules ?? []) {
        expect([...r.apiGroups, ...r.resources, ...r.verbs], `${o.kind} ${o.metadata.name}`).not.toContain(
          '*',
        );
        expect(r.verbs).not.toContain('escalate');
        expect(r.verbs).not.toContain('bind');
        expect(r.resources).not.toContain('pods/exec');
      }
  });

  it('uses a Role per watched namespace and no ClusterRole in namespaced mode', () => {
    for (const [combo, namespaces] of [
      ['single-namespace', ['licensing']],
      ['multi-namespace', ['licensing', 'licensing-b']],
    ] as const) {
      const objs = rendered[combo]!;
      expect(objs.filter((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding')).toEqual([]);
      const roles = objs.filter((o) => o.kind === 'Role' && o.metadata.name === 'lpo-license-pair-operator');
      expect(roles.map((r) => r.metadata.namespace)).toEqual(namespaces);
      for (const r of roles)
        expect((r as unknown as { rules: Rule[] }).rules.flatMap((x) => x.resources)).not.toContain('nodes');
      const bindings = objs.filter(
        (o) => o.kind === 'RoleBinding' && o.metadata.name === 'lpo-license-pair-operator',
      );
      expect(bindings.map((r) => r.metadata.namespace)).toEqual(namespaces);
      const c = deployment(objs).spec.template.spec.containers[0]!;
      expect(env(c, 'WATCH_NAMESPACE')?.value).toBe(namespaces.join(','));
      const lsMonitor = find(
        render([...combos[combo]!, 'monitoring.licenseServers.enabled=true']),
        'PodMonitor',
      ) as K8sObject & {
        spec: { namespaceSelector: unknown };
      };
      expect(lsMonitor.spec.namespaceSelector).toEqual({ matchNames: namespaces });
    }
  });
});

describe('the CRD', () => {
  const source = readdirSync(path.join(repoRoot, 'crds')).filter((f) => f.endsWith('.yaml'));

  it('files/crds/ is a copy of crds/ (run `node test/chart/sync-crds.ts` after `npm run crds`)', () => {
    const copies = readdirSync(path.join(chartDir, 'files', 'crds')).filter((f) => f.endsWith('.yaml'));
    expect(copies.sort()).toEqual(source.sort());
    for (const f of source)
      expect(readYaml(path.join(chartDir, 'files', 'crds', f)), f).toEqual(
        readYaml(path.join(repoRoot, 'crds', f)),
      );
  });

  it('is rendered as a template with the keep policy, identical to crds/ apart from labels and annotations', () => {
    const objs = render([]);
    const crds = objs.filter((o) => o.kind === 'CustomResourceDefinition');
    expect(crds).toHaveLength(source.length);
    for (const f of source) {
      const want = readYaml<K8sObject>(path.join(repoRoot, 'crds', f));
      const got = crds.find((c) => c.metadata.name === want.metadata.name)!;
      expect(got.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
      expect(got.metadata.labels).toMatchObject(want.metadata.labels ?? {});
      const strip = (o: K8sObject) => ({ ...o, metadata: { name: o.metadata.name } });
      expect(strip(got)).toEqual(strip(want));
    }
  });

  it('is left out with crds.install=false and not kept with crds.keep=false', () => {
    expect(render(['crds.install=false']).filter((o) => o.kind === 'CustomResourceDefinition')).toEqual([]);
    const crd = find(render(['crds.keep=false']), 'CustomResourceDefinition')!;
    expect(crd.metadata.annotations?.['helm.sh/resource-policy']).toBeUndefined();
  });
});

describe('monitoring objects', () => {
  const objs = render(combos.monitoring!);
  const alertsFile = path.join(chartDir, 'files', 'alerts.yaml');
  type Alert = {
    alert: string;
    expr: string;
    labels: { severity: string };
    annotations: Record<string, string>;
  };
  const groups = (readYaml(alertsFile) as { groups: { rules: Alert[] }[] }).groups;
  const alerts = groups.flatMap((g) => g.rules);

  it('scrapes the operator (job license-pair-operator, honorLabels) and the licence servers (pair, member)', () => {
    const [op, ls] = [
      find(objs, 'PodMonitor', 'lpo-license-pair-operator'),
      find(objs, 'PodMonitor', 'lpo-license-pair-operator-license-servers'),
    ] as (K8sObject & {
      spec: { selector: unknown; podMetricsEndpoints: Record<string, unknown>[]; namespaceSelector: unknown };
    })[];
    expect(op!.spec.podMetricsEndpoints[0]).toMatchObject({ port: 'metrics', honorLabels: true });
    expect(op!.spec.podMetricsEndpoints[0]!.relabelings).toContainEqual({
      action: 'replace',
      targetLabel: 'job',
      replacement: 'license-pair-operator',
    });
    expect(ls!.spec.selector).toEqual({
      matchLabels: {
        'app.kubernetes.io/name': 'license-server',
        'app.kubernetes.io/managed-by': 'license-pair-operator',
      },
    });
    expect(ls!.spec.namespaceSelector).toEqual({ any: true });
    const relabel = ls!.spec.podMetricsEndpoints[0]!.relabelings as {
      targetLabel: string;
      sourceLabels?: string[];
    }[];
    expect(relabel.map((r) => r.targetLabel)).toEqual(['job', 'pair', 'member']);
    expect(relabel[1]!.sourceLabels).toEqual(['__meta_kubernetes_pod_label_lpo_dev_pair']);
    const sm = find(render(combos['service-monitor']!), 'ServiceMonitor') as K8sObject & {
      spec: { endpoints: Record<string, unknown>[] };
    };
    expect(sm.spec.endpoints[0]).toMatchObject({ port: 'metrics', honorLabels: true });
  });

  it('the PrometheusRule is files/alerts.yaml verbatim', () => {
    const rule = find(objs, 'PrometheusRule') as K8sObject & { spec: unknown };
    expect(rule.spec).toEqual(readYaml(alertsFile));
    const custom = find(
      render([
        ...combos.monitoring!,
        'monitoring.prometheusRule.runbookBaseUrl=https://runbooks.example.com/lpo/',
      ]),
      'PrometheusRule',
    ) as K8sObject & { spec: { groups: { rules: Alert[] }[] } };
    const base = 'https://github.com/license-pair-operator/license-pair-operator/blob/main/docs/runbooks';
    for (const [i, a] of custom.spec.groups.flatMap((g) => g.rules).entries())
      expect(a.annotations['runbook_url']).toBe(
        alerts[i]!.annotations['runbook_url']!.replace(base, 'https://runbooks.example.com/lpo'),
      );
  });

  it('every alert has a severity, summary, description and a runbook in docs/runbooks/', () => {
    expect(alerts.map((a) => a.alert).sort()).toEqual(
      [
        'LicensePairCertificateExpiringSoon',
        'LicensePairFailedOverTooLong',
        'LicensePairLicenceExpiringSoon',
        'LicensePairLicenceUpdateRefused',
        'LicensePairNoRedundancy',
        'LicensePairNotServing',
        'LicensePairOperatorMetricsAbsent',
        'LicensePairOperatorNoLeader',
        'LicensePairOperatorReconcileErrors',
        'LicensePairUnavailable',
        'LicensePairServingAlone',
        'LicenseReplicationLagHigh',
        'LicenseServerNoQuorum',
        'LicenseSeatsNearlyExhausted',
      ].sort(),
    );
    for (const a of alerts) {
      expect(['critical', 'warning', 'info']).toContain(a.labels.severity);
      expect(a.annotations.summary, a.alert).toBeTruthy();
      expect(a.annotations.description, a.alert).toBeTruthy();
      // The alerts that carry the Ready condition's reason link to its section of LicensePairNotServing.md.
      expect(a.annotations.runbook_url).toMatch(
        !a.expr.includes('lpo_pair_ready')
          ? new RegExp(`/docs/runbooks/${a.alert}\\.md$`)
          : /\/docs\/runbooks\/LicensePairNotServing\.md#\{\{ \$labels\.reason \| toLower \}\}$/,
      );
      const runbook = path.join(repoRoot, 'docs', 'runbooks', `${a.alert}.md`);
      expect(existsSync(runbook), runbook).toBe(true);
      const text = readFileSync(runbook, 'utf8');
      expect(text).toContain(`# ${a.alert}`);
      for (const section of ['## Meaning', '## Impact', '## Diagnosis', '## Mitigation'])
        expect(text, `${a.alert} ${section}`).toContain(section);
    }
  });

  it('the dashboard ConfigMap carries files/dashboard.json and the Grafana sidecar label', () => {
    const cm = find(objs, 'ConfigMap', 'lpo-license-pair-operator-dashboard') as K8sObject & {
      data: Record<string, string>;
    };
    expect(cm.metadata.labels?.grafana_dashboard).toBe('1');
    expect(JSON.parse(cm.data['license-pair-operator.json']!)).toEqual(
      JSON.parse(readFileSync(path.join(chartDir, 'files', 'dashboard.json'), 'utf8')),
    );
  });

  it('the NetworkPolicy admits only the metrics and health ports', () => {
    const np = find(render(combos['network-policy']!), 'NetworkPolicy') as K8sObject & {
      spec: { ingress: { ports: { port: string }[] }[]; policyTypes: string[] };
    };
    expect(np.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(np.spec.ingress.flatMap((i) => i.ports.map((p) => p.port))).toEqual(['metrics', 'health']);
  });
});

describe('values and docs', () => {
  it('values.schema.json defaults are the values.yaml values', () => {
    type S = { type?: string; properties?: Record<string, S>; default?: unknown };
    const schema = JSON.parse(readFileSync(path.join(chartDir, 'values.schema.json'), 'utf8')) as S;
    const values = readYaml<Record<string, unknown>>(path.join(chartDir, 'values.yaml'));
    const walk = (s: S, v: unknown, at: string) => {
      if (s.type === 'object' && s.properties) {
        expect(Object.keys(v as object).sort(), at).toEqual(Object.keys(s.properties).sort());
        for (const [k, sub] of Object.entries(s.properties))
          walk(sub, (v as Record<string, unknown>)[k], `${at}.${k}`);
      } else expect(s.default, at).toEqual(v);
    };
    walk(schema, values, 'values');
  });

  it('docs/configuration.md is generated from values.schema.json (node test/chart/gen-config-docs.ts)', () => {
    expect(readFileSync(docPath, 'utf8')).toBe(renderConfigDocs());
  });

  it("the chart's README.md is generated from values.schema.json and lists every value", () => {
    const readme = readFileSync(chartReadmePath, 'utf8');
    expect(readme).toBe(renderChartReadme());
    type Props = { properties?: Record<string, Props> };
    const schema = JSON.parse(readFileSync(path.join(chartDir, 'values.schema.json'), 'utf8')) as Props;
    const keys: string[] = [];
    const walk = (s: Props, at: string) => {
      for (const [k, sub] of Object.entries(s.properties ?? {})) {
        keys.push(at ? `${at}.${k}` : k);
        walk(sub, keys.at(-1)!);
      }
    };
    walk(schema, '');
    expect(keys.length).toBeGreaterThan(20);
    for (const key of keys) expect(readme, key).toContain(`| \`${key}\` |`);
  });

  it('renders documents that are valid YAML', () => {
    for (const sets of Object.values(combos))
      expect(() =>
        YAML.parseAllDocuments(must(tool('helm'), ['template', 'x', chartDir, ...setArgs(sets)])),
      ).not.toThrow();
    expect(parseAll('---\n')).toEqual([]);
  });
});
