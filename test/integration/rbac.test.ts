import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import YAML from 'yaml';
import { chartDir, helm } from '../chart/lib.ts';
import { createNamespace, deleteNamespace, eventually, kube, type Kube } from '../support/kube.ts';
import { kubectl } from '../support/kubectl.ts';
import { ensureCrd, OperatorProcess } from '../support/operator.ts';

// Least privilege, checked by the API server itself: the chart's RBAC (both modes) is applied to
// the real API server, the ServiceAccount's effective permissions are listed with a
// SelfSubjectRulesReview while impersonating it, and they must equal rbac-allowlist.yaml exactly
// (nothing missing, nothing extra). Then the operator runs with that ServiceAccount's own token
// and reconciles a pair without a single refusal: the list is also enough.

type AllowRule = { group: string; resource: string; names?: string[]; verbs: string[] };
type AllowList = {
  clusterWide: { anyNamespace: AllowRule[]; releaseNamespace: AllowRule[] };
  namespaced: { watchedNamespace: AllowRule[]; releaseNamespace: AllowRule[]; otherNamespace: AllowRule[] };
};
type ResourceRule = { verbs: string[]; apiGroups?: string[]; resources?: string[]; resourceNames?: string[] };
type RulesReview = {
  status: {
    resourceRules: ResourceRule[];
    nonResourceRules: { verbs: string[]; nonResourceURLs: string[] }[];
  };
};

const here = path.dirname(fileURLToPath(import.meta.url));
const allow = YAML.parse(fs.readFileSync(path.join(here, 'rbac-allowlist.yaml'), 'utf8')) as AllowList;
const id = randomBytes(3).toString('hex');
const release = `rbac-${id}`;
const sa = `${release}-license-pair-operator`;

let k: Kube;
let releaseNs: string;
let watchedNs: string;
let otherNs: string;

/** One line per (group, resource, name, verb), so two lists compare as sets. */
function expand(rules: AllowRule[]): string[] {
  return rules
    .flatMap((r) =>
      (r.names ?? ['*']).flatMap((n) => r.verbs.map((v) => `${r.group || 'core'} ${r.resource} ${n} ${v}`)),
    )
    .sort();
}

function fromReview(rules: ResourceRule[]): string[] {
  return rules.flatMap((r) =>
    (r.apiGroups ?? ['']).flatMap((g) =>
      (r.resources ?? []).flatMap((res) =>
        (r.resourceNames?.length ? r.resourceNames : ['*']).flatMap((n) =>
          r.verbs.map((v) => `${g || 'core'} ${res} ${n} ${v}`),
        ),
      ),
    ),
  );
}

function review(user: string, namespace: string): { resource: string[]; nonResource: string[] } {
  const body = {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SelfSubjectRulesReview',
    spec: { namespace },
  };
  const r = JSON.parse(
    kubectl(['create', '--validate=false', '-f', '-', '-o', 'json', `--as=${user}`], JSON.stringify(body)),
  ) as RulesReview;
  return {
    resource: fromReview(r.status.resourceRules),
    nonResource: r.status.nonResourceRules.flatMap((x) =>
      x.nonResourceURLs.flatMap((u) => x.verbs.map((v) => `${u} ${v}`)),
    ),
  };
}

/** What the ServiceAccount may do in `namespace` beyond what any authenticated identity may do. */
function effective(namespace: string): string[] {
  const baseline = new Set(review(`system:serviceaccount:${releaseNs}:nobody`, namespace).resource);
  const mine = review(`system:serviceaccount:${releaseNs}:${sa}`, namespace);
  const baseNonResource = new Set(review(`system:serviceaccount:${releaseNs}:nobody`, namespace).nonResource);
  expect(mine.nonResource.filter((x) => !baseNonResource.has(x))).toEqual([]);
  return [...new Set(mine.resource.filter((x) => !baseline.has(x)))].sort();
}

function renderRbac(sets: string[]): string {
  const r = helm([
    'template',
    release,
    chartDir,
    '--namespace',
    releaseNs,
    '--show-only',
    'templates/serviceaccount.yaml',
    '--show-only',
    'templates/rbac.yaml',
    ...sets.flatMap((s) => ['--set', s]),
  ]);
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
}

function deleteRbac(text: string): void {
  kubectl(['delete', '--ignore-not-found', '--wait=false', '-f', '-'], text);
}

beforeAll(async () => {
  k = kube();
  releaseNs = await createNamespace(k, 'rbac-release');
  watchedNs = await createNamespace(k, 'rbac-watched');
  otherNs = await createNamespace(k, 'rbac-other');
  // The baseline identity: a ServiceAccount bound to nothing.
  kubectl(['create', 'serviceaccount', 'nobody', '-n', releaseNs]);
});

afterAll(async () => {
  for (const ns of [releaseNs, watchedNs, otherNs]) if (ns) await deleteNamespace(k, ns);
});

describe('the operator ServiceAccount’s effective permissions equal rbac-allowlist.yaml', () => {
  it('cluster-wide install: the ClusterRole in every namespace, leader election in the release namespace', () => {
    const text = renderRbac([]);
    kubectl(['apply', '-f', '-'], text);
    try {
      // A namespace created after the install: the rules reach it through the ClusterRoleBinding.
      expect(effective(otherNs)).toEqual(expand(allow.clusterWide.anyNamespace));
      expect(effective(releaseNs)).toEqual(
        expand([...allow.clusterWide.anyNamespace, ...allow.clusterWide.releaseNamespace]),
      );
    } finally {
      deleteRbac(text);
    }
  });

  it('namespaced install: the watched namespace, leader election in the release namespace, nothing elsewhere', async () => {
    const text = renderRbac([`watchNamespaces={${watchedNs}}`]);
    kubectl(['apply', '-f', '-'], text);
    try {
      expect(effective(watchedNs)).toEqual(expand(allow.namespaced.watchedNamespace));
      expect(effective(releaseNs)).toEqual(expand(allow.namespaced.releaseNamespace));
      expect(effective(otherNs)).toEqual(expand(allow.namespaced.otherNamespace));
    } finally {
      deleteRbac(text);
    }
    // The ClusterRole's rules must be gone before the next test relies on the namespaced ones only.
    await eventually('cluster-wide rules removed', async () =>
      kubectl(['get', 'clusterrolebinding', sa, '--ignore-not-found', '-o', 'name']).trim() === ''
        ? true
        : undefined,
    );
  });
});

describe('the allow list is enough', () => {
  let operator: OperatorProcess | undefined;
  let rbacText = '';
  afterAll(async () => {
    await operator?.stop();
    if (rbacText) deleteRbac(rbacText);
  });

  it('the operator, with the ServiceAccount’s own token, reconciles a pair with storage without a refusal', async () => {
    await ensureCrd(kubectl);
    rbacText = renderRbac([`watchNamespaces={${watchedNs}}`]);
    kubectl(['apply', '-f', '-'], rbacText);
    const token = kubectl(['create', 'token', sa, '-n', releaseNs, '--duration=1h']).trim();
    const admin = YAML.parse(fs.readFileSync(inject('kubeconfig'), 'utf8')) as {
      clusters: { name: string; cluster: Record<string, string> }[];
    };
    const cluster = admin.clusters[0]!;
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lpo-rbac-')), 'kubeconfig');
    fs.writeFileSync(
      file,
      YAML.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [cluster],
        users: [{ name: 'operator', user: { token } }],
        contexts: [{ name: 'operator', context: { cluster: cluster.name, user: 'operator' } }],
        'current-context': 'operator',
      }),
      { mode: 0o600 },
    );
    operator = new OperatorProcess({
      KUBECONFIG: file,
      WATCH_NAMESPACE: watchedNs,
      OPERATOR_NAMESPACE: releaseNs,
      LEADER_ELECT: 'true',
      OPERATOR_POD_LABELS: `app.kubernetes.io/name=license-pair-operator,app.kubernetes.io/instance=${release}`,
    });
    await operator.start();
    kubectl(
      ['apply', '-f', '-'],
      // NodePort: its client Service is made at once (a ClusterIP one only with the first live
      // member, and no member runs here), so the Service apply is exercised too.
      `apiVersion: lpo.dev/v1alpha1\nkind: LicenseServerPair\nmetadata: {name: least, namespace: ${watchedNs}}\nspec:\n  server:\n    license: {secretName: least-license}\n    storage: {size: 1Gi}\n  service: {type: NodePort}\n`,
    );
    const names = (kind: string) =>
      kubectl(['get', kind, '-n', watchedNs, '-l', 'lpo.dev/pair=least', '-o', 'name'])
        .trim()
        .split('\n')
        .filter(Boolean)
        .sort();
    await eventually(
      'pods, Services, PVCs, PDB and NetworkPolicy of the pair',
      async () =>
        names('pods').length === 2 &&
        names('services').length === 3 &&
        names('persistentvolumeclaims').length === 2 &&
        names('poddisruptionbudgets').length === 1 &&
        names('networkpolicies').length === 1,
      60_000,
      500,
    );
    expect(kubectl(['get', 'secret', 'least-admin-token', '-n', watchedNs, '-o', 'name']).trim()).toBe(
      'secret/least-admin-token',
    );
    // TLS (the default): the installation CA in the release namespace, each member's certificate
    // Secret (server-side applied) and the CA bundle for clients.
    await eventually(
      'the CA, the member certificates and the CA ConfigMap',
      async () =>
        kubectl(['get', 'secret', 'license-pair-operator-ca', '-n', releaseNs, '-o', 'name']).trim() ===
          'secret/license-pair-operator-ca' &&
        kubectl(['get', 'secrets', '-n', watchedNs, '-o', 'name']).includes('secret/least-primary-tls') &&
        kubectl(['get', 'secrets', '-n', watchedNs, '-o', 'name']).includes('secret/least-redundant-tls') &&
        kubectl(['get', 'configmap', 'least-ca', '-n', watchedNs, '-o', 'name']).trim() ===
          'configmap/least-ca',
      60_000,
      500,
    );
    // Status written (status subresource patch) and the lease held (leader election).
    await eventually('status written', async () => {
      const phase = kubectl([
        'get',
        'lsp',
        'least',
        '-n',
        watchedNs,
        '-o',
        'jsonpath={.status.phase}',
      ]).trim();
      return phase !== '' ? phase : undefined;
    });
    const holder = kubectl([
      'get',
      'lease',
      'license-pair-operator-leader',
      '-n',
      releaseNs,
      '-o',
      'jsonpath={.spec.holderIdentity}',
    ]).trim();
    expect(holder).not.toBe('');
    // A refused call is what this test is about: none in the whole log. (A reconcile may still
    // fail and be retried for other reasons, such as a write racing the informer's cache.)
    expect(operator.tail(1_000_000)).not.toMatch(/forbidden|\b403\b/i);
    // The policy as the API server stored it (no enforcement on the local cluster: the object is checked).
    const np = JSON.parse(kubectl(['get', 'networkpolicy', 'least', '-n', watchedNs, '-o', 'json'])) as {
      spec: {
        podSelector: unknown;
        policyTypes: string[];
        ingress: { from?: unknown[]; ports?: unknown[] }[];
      };
    };
    const members = { podSelector: { matchLabels: { 'lpo.dev/pair': 'least' } } };
    expect(np.spec.podSelector).toEqual(members.podSelector);
    expect(np.spec.policyTypes).toEqual(['Ingress']);
    expect(np.spec.ingress).toEqual([
      { ports: [{ port: 'licences', protocol: 'TCP' }] },
      { from: [members], ports: [{ port: 'admin', protocol: 'TCP' }] },
      { ports: [{ port: 'metrics', protocol: 'TCP' }] },
      {
        from: [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': releaseNs } },
            podSelector: {
              matchLabels: {
                'app.kubernetes.io/name': 'license-pair-operator',
                'app.kubernetes.io/instance': release,
              },
            },
          },
        ],
      },
    ]);
    // Opting out removes the policy (the delete verb is used).
    kubectl([
      'patch',
      'lsp',
      'least',
      '-n',
      watchedNs,
      '--type=merge',
      '-p',
      '{"spec":{"networkPolicy":{"enabled":false}}}',
    ]);
    await eventually('NetworkPolicy removed', async () => names('networkpolicies').length === 0, 30_000, 250);
    expect(operator.tail(1_000_000)).not.toMatch(/forbidden|\b403\b/i);
  });
});
