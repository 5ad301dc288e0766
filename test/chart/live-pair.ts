import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { signLicence } from '../../src/license-server/licence-file.ts';
import { body as sampleBody } from '../../samples/make-sample-license.ts';
import { requestOnNewConnection } from '../support/http.ts';
import { concrete, loadDashboard, panels } from './dashboard-lib.ts';
import { chartDir, kubeconfigPath, kubectl, must, repoRoot, tool } from './lib.ts';

/**
 * A real Prometheus (Debian's package) on 127.0.0.1 that scrapes the operator and the licence-server
 * pods the way the chart's PodMonitors do (same jobs, honor_labels for the operator, namespace/pod and
 * pair/member labels), with the chart's alert rules loaded. Debian builds Prometheus without the
 * Kubernetes service discovery, so the pods are discovered here (kubectl, the PodMonitors' label
 * selectors and the `metrics` container port) and written to file_sd target files every 2 s.
 */
export class LocalPrometheus {
  private proc?: ChildProcess;
  private timer?: NodeJS.Timeout;
  private dir = mkdtempSync(path.join(os.tmpdir(), 'lpo-prometheus-'));
  url = '';
  log = '';

  /** Pods of a PodMonitor selector as file_sd target groups. */
  private targets(
    selector: string,
    extra: (labels: Record<string, string>) => Record<string, string>,
  ): unknown[] {
    const r = kubectl(['get', 'pods', '-A', '-l', selector, '-o', 'json']);
    if (r.status !== 0) return [];
    type Pod = {
      metadata: { name: string; namespace: string; labels?: Record<string, string> };
      spec: { containers: { ports?: { name?: string; containerPort: number }[] }[] };
      status: { phase?: string; podIP?: string };
    };
    return (JSON.parse(r.stdout) as { items: Pod[] }).items.flatMap((pod) => {
      const port = pod.spec.containers.flatMap((c) => c.ports ?? []).find((p) => p.name === 'metrics');
      if (pod.status.phase !== 'Running' || !pod.status.podIP || !port) return [];
      return [
        {
          targets: [`${pod.status.podIP}:${port.containerPort}`],
          labels: {
            namespace: pod.metadata.namespace,
            pod: pod.metadata.name,
            ...extra(pod.metadata.labels ?? {}),
          },
        },
      ];
    });
  }

  private writeTargets(): void {
    const write = (name: string, groups: unknown[]) => {
      const file = path.join(this.dir, `${name}.json`);
      writeFileSync(`${file}.tmp`, JSON.stringify(groups));
      renameSync(`${file}.tmp`, file);
    };
    write(
      'operator',
      this.targets('app.kubernetes.io/name=license-pair-operator', () => ({})),
    );
    write(
      'license-servers',
      this.targets(
        'app.kubernetes.io/name=license-server,app.kubernetes.io/managed-by=license-pair-operator',
        (l) => ({
          pair: l['lpo.dev/pair'] ?? '',
          member: l['lpo.dev/member'] ?? '',
        }),
      ),
    );
  }

  async start(): Promise<void> {
    const port = await freePort();
    this.url = `http://127.0.0.1:${port}`;
    this.writeTargets();
    this.timer = setInterval(() => this.writeTargets(), 2_000);
    const config = {
      global: { scrape_interval: '2s', evaluation_interval: '2s', scrape_timeout: '1s' },
      rule_files: [path.join(chartDir, 'files', 'alerts.yaml')],
      scrape_configs: [
        {
          job_name: 'license-pair-operator',
          honor_labels: true,
          file_sd_configs: [{ files: [path.join(this.dir, 'operator.json')], refresh_interval: '2s' }],
        },
        {
          job_name: 'license-server',
          file_sd_configs: [{ files: [path.join(this.dir, 'license-servers.json')], refresh_interval: '2s' }],
        },
      ],
    };
    const file = path.join(this.dir, 'prometheus.yml');
    writeFileSync(file, YAML.stringify(config));
    must('promtool', ['check', 'config', file]);
    this.proc = spawn(
      'prometheus',
      [
        `--config.file=${file}`,
        `--storage.tsdb.path=${path.join(this.dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.proc.stdout!.on('data', (b: Buffer) => (this.log += b.toString()));
    this.proc.stderr!.on('data', (b: Buffer) => (this.log += b.toString()));
    await until('Prometheus ready', async () => (await fetch(`${this.url}/-/ready`)).ok, 30_000);
  }

  async query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
    const res = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as { status: string; error?: string; data?: { result: [] } };
    if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
    return body.data!.result;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.proc && this.proc.exitCode === null) {
      const exited = new Promise((r) => this.proc!.once('exit', r));
      this.proc.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function until<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

const kc = (args: string[], input?: string) =>
  must(tool('kubectl'), ['--kubeconfig', kubeconfigPath, ...args], { input });

type Pair = { status?: { liveMember?: string; conditions?: { type: string; status: string }[] } };

export function readPair(ns: string, name: string): Pair {
  return JSON.parse(kc(['get', 'lsp', name, '-n', ns, '-o', 'json'])) as Pair;
}

/** The sample pair (samples/licenseserverpair.yaml) in another namespace, its licence re-signed for it with the demo key. */
export function applySamplePair(ns: string, name = 'eda-tools'): void {
  const docs = YAML.parseAllDocuments(
    readFileSync(path.join(repoRoot, 'samples/licenseserverpair.yaml'), 'utf8'),
  ).map(
    (d) =>
      d.toJS() as {
        kind: string;
        metadata: { name: string; namespace: string };
        stringData?: Record<string, string>;
      },
  );
  const privateKey = readFileSync(
    path.join(repoRoot, 'samples/demo-issuer/DEMO-ONLY-private-key.pem'),
    'utf8',
  );
  const licence = signLicence({ ...sampleBody, issuedTo: `${ns}/${name}` }, privateKey);
  for (const d of docs) {
    d.metadata.namespace = ns;
    if (d.kind === 'LicenseServerPair') d.metadata.name = name;
    if (d.kind === 'Secret') {
      d.metadata.name = `${name}-license`;
      d.stringData!['license.json'] = `${JSON.stringify(licence, null, 2)}\n`;
    }
  }
  const pair = docs.find((d) => d.kind === 'LicenseServerPair') as unknown as {
    spec: { server: { license: { secretName: string } } };
  };
  pair.spec.server.license.secretName = `${name}-license`;
  kc(['apply', '-f', '-'], docs.map((d) => YAML.stringify(d)).join('---\n'));
}

export async function waitLive(ns: string, name: string, timeoutMs = 180_000, not?: string): Promise<string> {
  return until(
    `${ns}/${name} to have a live member${not ? ` other than ${not}` : ''}`,
    async () => {
      const live = readPair(ns, name).status?.liveMember;
      return live && live !== not ? live : undefined;
    },
    timeoutMs,
  );
}

export async function waitStandbyReady(ns: string, name: string, timeoutMs = 180_000): Promise<void> {
  await until(
    `${ns}/${name} StandbyReady`,
    async () =>
      readPair(ns, name).status?.conditions?.some((c) => c.type === 'StandbyReady' && c.status === 'True'),
    timeoutMs,
  );
}

/** Checkouts through the pair's Service from the host: granted, an existing lease, and denials. */
export async function makeLicenceTraffic(ns: string, name: string): Promise<void> {
  const ip = kc(['get', 'service', name, '-n', ns, '-o', 'jsonpath={.spec.clusterIP}']).trim();
  const port = kc(['get', 'service', name, '-n', ns, '-o', 'jsonpath={.spec.ports[0].port}']).trim();
  // A new connection per request: after a switchover an established connection still leads to
  // the old member (conntrack), which answers NOT_ACTIVE; a new one follows the Service.
  // TLS (the default): the pair's CA bundle from its ConfigMap, the Service host to verify.
  const ca = kc(['get', 'configmap', `${name}-ca`, '-n', ns, '-o', 'jsonpath={.data.ca\\.crt}']);
  const tls = { ca, servername: `${name}.${ns}.svc` };
  const post = async (p: string, b: unknown) => {
    const r = await requestOnNewConnection(`https://${ip}:${port}${p}`, { json: b, timeoutMs: 5_000, tls });
    return { status: r.status, body: JSON.parse(r.body) as Record<string, unknown> };
  };
  await until(
    'a checkout through the Service',
    async () =>
      (await post('/v1/checkout', { feature: 'synth', clientId: 'dash-1', user: 'alice', host: 'ws-1' }))
        .status === 200,
    60_000,
  );
  await post('/v1/checkout', { feature: 'synth', clientId: 'dash-1', user: 'alice', host: 'ws-1' }); // existing
  await post('/v1/checkout', { feature: 'layout', clientId: 'dash-2', user: 'guest', host: 'ws-2' }); // EXCLUDED
  await post('/v1/checkout', { feature: 'nope', clientId: 'dash-3', user: 'bob', host: 'ws-3' }); // UNKNOWN_FEATURE
  for (let i = 0; i < 3; i++)
    await post('/v1/checkout', { feature: 'sim', clientId: `dash-sim-${i}`, user: `u${i}`, host: 'ws-9' }); // HOST_LIMIT on the third
}

/** Merges `spec` into the pair's spec (a JSON merge patch). */
export function patchPairSpec(ns: string, name: string, spec: Record<string, unknown>): void {
  kc(['patch', 'lsp', name, '-n', ns, '--type', 'merge', '-p', JSON.stringify({ spec })]);
}

/** Sets spec.preferredMember: a switchover, or after a failover with failback Manual, no move. */
export function preferMember(ns: string, name: string, member: string): void {
  patchPairSpec(ns, name, { preferredMember: member });
}

/** A real failover: delete the live member's pod and wait for the other member to serve. */
export async function failOver(ns: string, name: string): Promise<string> {
  const live = readPair(ns, name).status!.liveMember!;
  kc(['delete', 'pod', '-n', ns, '-l', `lpo.dev/pair=${name},lpo.dev/member=${live}`, '--wait=false']);
  return waitLive(ns, name, 120_000, live);
}

/** Evaluates every dashboard query for the pair; returns the panels/targets that returned no series. */
export async function emptyDashboardQueries(
  prom: LocalPrometheus,
  ns: string,
  name: string,
): Promise<string[]> {
  const empty: string[] = [];
  for (const p of panels(loadDashboard()))
    for (const t of p.targets ?? []) {
      const expr = concrete(t.expr, { namespace: ns, pair: name, range: '10m' });
      const result = await prom.query(expr);
      if (result.length === 0) empty.push(`${p.title} [${t.refId}]: ${expr}`);
    }
  return empty;
}

export function operatorWatchesAllNamespaces(): boolean {
  const r = kubectl([
    'get',
    'deployments',
    '-A',
    '-l',
    'app.kubernetes.io/name=license-pair-operator',
    '-o',
    'json',
  ]);
  if (r.status !== 0) return false;
  const items = (
    JSON.parse(r.stdout) as {
      items: {
        status?: { readyReplicas?: number };
        spec: { template: { spec: { containers: { env?: { name: string; value?: string }[] }[] } } };
      }[];
    }
  ).items;
  return items.some(
    (d) =>
      (d.status?.readyReplicas ?? 0) > 0 &&
      !(d.spec.template.spec.containers[0]!.env ?? []).some((e) => e.name === 'WATCH_NAMESPACE' && e.value),
  );
}
