import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { waitForCrdsEstablished } from '../support/crd-established.ts';

/** Helpers of the chart tests: helm, kubectl and promtool as real programs. */

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const chartDir = path.join(repoRoot, 'charts', 'license-pair-operator');
const clusterDir = process.env.LPO_CLUSTER_DIR ?? path.join(repoRoot, '.local-cluster');
export const kubeconfigPath = path.join(clusterDir, 'kubeconfig');
const binDir = path.join(clusterDir, 'bin');

/** helm and kubectl: the local cluster's links, else the PATH. */
export function tool(name: 'helm' | 'kubectl'): string {
  const local = path.join(binDir, name);
  return existsSync(local) ? local : name;
}

export interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Run {
  const r: SpawnSyncReturns<string> = spawnSync(cmd, args, {
    encoding: 'utf8',
    input: opts.input,
    timeout: opts.timeoutMs ?? 120_000,
    maxBuffer: 64 * 1024 * 1024,
    env: {
      ...process.env,
      KUBECONFIG: kubeconfigPath,
      HELM_CACHE_HOME: path.join(os.tmpdir(), 'lpo-helm-cache'),
    },
  });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs and throws with the output when the exit status is not 0. */
export function must(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): string {
  const r = run(cmd, args, opts);
  if (r.status !== 0)
    throw new Error(`${path.basename(cmd)} ${args.join(' ')} exited ${r.status}\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

export const helm = (args: string[], opts?: { input?: string; timeoutMs?: number }) =>
  run(tool('helm'), args, opts);
export const kubectl = (args: string[], opts?: { input?: string; timeoutMs?: number }) =>
  run(tool('kubectl'), ['--kubeconfig', kubeconfigPath, ...args], opts);

/**
 * The values combinations docs/install.md documents. Each is a list of `helm --set` style pairs
 * (watchNamespaces are placeholders replaced by real namespaces in cluster tests).
 */
export const combos: Record<string, string[]> = {
  default: [],
  'single-namespace': ['watchNamespaces={licensing}'],
  'multi-namespace': ['watchNamespaces={licensing,licensing-b}'],
  monitoring: [
    'monitoring.podMonitor.enabled=true',
    'monitoring.licenseServers.enabled=true',
    'monitoring.prometheusRule.enabled=true',
    'monitoring.dashboard.enabled=true',
  ],
  'service-monitor': ['monitoring.serviceMonitor.enabled=true', 'monitoring.prometheusRule.enabled=true'],
  'network-policy': ['networkPolicy.enabled=true'],
  'no-crds': ['crds.install=false'],
  'local-images': ['image.pullPolicy=Never', 'replicaCount=1'],
};

export function setArgs(sets: string[]): string[] {
  return sets.flatMap((s) => ['--set', s]);
}

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [k: string]: unknown;
};

export function parseAll(text: string): K8sObject[] {
  return YAML.parseAllDocuments(text)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => !!o && typeof o === 'object' && 'kind' in o);
}

export function render(sets: string[], namespace = 'lpo-system', release = 'lpo'): K8sObject[] {
  return parseAll(renderText(sets, namespace, release));
}

export function renderText(sets: string[], namespace = 'lpo-system', release = 'lpo'): string {
  return must(tool('helm'), ['template', release, chartDir, '--namespace', namespace, ...setArgs(sets)]);
}

export function find(objs: K8sObject[], kind: string, name?: string): K8sObject | undefined {
  return objs.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
}

export function readYaml<T = unknown>(file: string): T {
  return YAML.parse(readFileSync(file, 'utf8')) as T;
}

export function clusterReachable(): boolean {
  if (!existsSync(kubeconfigPath)) return false;
  try {
    execFileSync(tool('kubectl'), ['--kubeconfig', kubeconfigPath, 'get', '--raw', '/readyz'], {
      stdio: 'ignore',
      timeout: 5_000,
    });
    return true;
  } catch {
    return false;
  }
}

export function haveCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** The Prometheus Operator's CRDs, from its Go module (through the Go module proxy). */
export const prometheusOperatorVersion = 'v0.85.0';
export function prometheusOperatorCrdFiles(): string[] {
  const out = execFileSync(
    'go',
    [
      'mod',
      'download',
      '-json',
      `github.com/prometheus-operator/prometheus-operator@${prometheusOperatorVersion}`,
    ],
    { encoding: 'utf8', cwd: os.tmpdir(), env: { ...process.env, GOFLAGS: '' }, timeout: 300_000 },
  );
  const dir = (JSON.parse(out) as { Dir: string }).Dir;
  return ['podmonitors', 'servicemonitors', 'prometheusrules'].map((k) =>
    path.join(dir, 'example', 'prometheus-operator-crd', `monitoring.coreos.com_${k}.yaml`),
  );
}

export function ensurePrometheusOperatorCrds(): void {
  for (const file of prometheusOperatorCrdFiles()) {
    must(tool('kubectl'), ['--kubeconfig', kubeconfigPath, 'apply', '--server-side', '-f', file]);
  }
  waitForCrdsEstablished(
    (args) => must(tool('kubectl'), ['--kubeconfig', kubeconfigPath, ...args]),
    [
      'podmonitors.monitoring.coreos.com',
      'servicemonitors.monitoring.coreos.com',
      'prometheusrules.monitoring.coreos.com',
    ],
  );
}

export const crdName = 'licenseserverpairs.lpo.dev';

/** Lets a release own a CRD someone created with kubectl (the documented adoption, docs/install.md). */
export function adoptCrd(release: string, namespace: string): void {
  must(tool('kubectl'), [
    '--kubeconfig',
    kubeconfigPath,
    'annotate',
    'crd',
    crdName,
    '--overwrite',
    `meta.helm.sh/release-name=${release}`,
    `meta.helm.sh/release-namespace=${namespace}`,
  ]);
  must(tool('kubectl'), [
    '--kubeconfig',
    kubeconfigPath,
    'label',
    'crd',
    crdName,
    '--overwrite',
    'app.kubernetes.io/managed-by=Helm',
  ]);
}
