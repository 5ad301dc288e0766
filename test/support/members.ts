import * as k8s from '@kubernetes/client-node';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../cluster/config.ts';
import { call, SecretDir } from '../process/tls-members.ts';
import { feature, makeFixture, type Fixture } from '../unit/license-server/fixtures.ts';
import type { Kube } from './kube.ts';
import { freePort, OperatorProcess } from './operator.ts';

/**
 * For integration tests without a node: real licence-server processes on loopback addresses
 * (primary 127.0.0.2, redundant 127.0.0.3) and a stand-in kubelet that writes the pods' status
 * (Running, Ready, podIP pointing at those processes), as the kubelet would.
 */
export const memberIPs = { primary: '127.0.0.2', redundant: '127.0.0.3' } as const;
export type MemberName = keyof typeof memberIPs;

export interface Ports {
  licences: number;
  admin: number;
  metrics: number;
}

export class LoopbackMember {
  child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  readonly member: MemberName;
  private readonly fx: Fixture;
  private readonly ports: Ports;
  private readonly pairId: string;
  /** With TLS: the directory the stand-in kubelet writes the pod's `tls` volume to. */
  private readonly tlsDir: string | undefined;

  constructor(member: MemberName, fx: Fixture, ports: Ports, pairId: string, opts: { tlsDir?: string } = {}) {
    this.member = member;
    this.fx = fx;
    this.ports = ports;
    this.pairId = pairId;
    this.tlsDir = opts.tlsDir;
  }

  private get scheme(): string {
    return this.tlsDir ? 'https' : 'http';
  }

  get ip(): string {
    return memberIPs[this.member];
  }

  get adminUrl(): string {
    return `${this.scheme}://${this.ip}:${this.ports.admin}`;
  }

  get clientUrl(): string {
    return `${this.scheme}://${this.ip}:${this.ports.licences}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<void> {
    const peer: MemberName = this.member === 'primary' ? 'redundant' : 'primary';
    const log = fs.openSync(path.join(this.fx.dir, `${this.member}.log`), 'a');
    const child = spawn(
      path.join(repoRoot, 'node_modules/.bin/node'),
      [path.join(repoRoot, 'src/license-server/main.ts')],
      {
        env: {
          PATH: process.env.PATH ?? '',
          LS_PAIR_ID: this.pairId,
          LS_MEMBER: this.member,
          LS_LICENSE_FILE: this.fx.licenceFile,
          LS_PUBLIC_KEY_FILE: this.fx.publicKeyFile,
          LS_ADMIN_TOKEN_FILE: this.fx.tokenFile,
          LS_STATE_DIR: this.fx.stateDir(this.member),
          LS_BIND: this.ip,
          LS_PORT: String(this.ports.licences),
          LS_ADMIN_PORT: String(this.ports.admin),
          LS_METRICS_PORT: String(this.ports.metrics),
          LS_ADVERTISE_URL: this.clientUrl,
          LS_PEER_URL: `${this.scheme}://${memberIPs[peer]}:${this.ports.admin}`,
          ...(this.tlsDir
            ? {
                LS_TLS_CERT_FILE: path.join(this.tlsDir, 'tls.crt'),
                LS_TLS_KEY_FILE: path.join(this.tlsDir, 'tls.key'),
                LS_TLS_CA_FILE: path.join(this.tlsDir, 'ca.crt'),
                LS_TLS_RELOAD_MS: '200',
              }
            : {}),
        },
        stdio: ['ignore', log, log],
      },
    );
    fs.closeSync(log);
    this.child = child;
    this.exited = new Promise((r) => child.once('exit', () => r()));
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`${this.member} exited: ${this.tail()}`);
      try {
        // /healthz needs no client certificate; the server's is checked by the test's own calls.
        const ok = this.tlsDir
          ? (await call(this.adminUrl, '/healthz', { ca: '', verify: false })).status === 200
          : (await fetch(`${this.adminUrl}/healthz`)).ok;
        if (ok) return;
      } catch {
        // Starting.
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${this.member} did not start: ${this.tail()}`);
  }

  /** SIGSTOP: the process stays but stops answering (a hang). */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  async kill(): Promise<void> {
    if (!this.running) return;
    this.child!.kill('SIGCONT');
    this.child!.kill('SIGKILL');
    await this.exited;
  }

  async status(): Promise<{ role: string; epoch: number; replication: { state: string } }> {
    const r = await fetch(`${this.adminUrl}/v1/status`, {
      headers: { authorization: `Bearer ${this.fx.token}` },
      // A paused (hung) member never answers.
      signal: AbortSignal.timeout(2000),
    });
    return (await r.json()) as { role: string; epoch: number; replication: { state: string } };
  }

  tail(): string {
    try {
      return fs.readFileSync(path.join(this.fx.dir, `${this.member}.log`), 'utf8').slice(-2000);
    } catch {
      return '';
    }
  }
}

export function licenceFixture(pairId: string, seats = 10): Fixture {
  const fx = makeFixture();
  fx.writeLicence([feature('synth', seats)], pairId);
  return fx;
}

const NODE_LEASE_RENEW_MS = 5_000;

/** Plays the kubelet for the pods of one namespace: gives each new pod its member's IP and Ready. */
export class StandInKubelet {
  private timer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private heartbeating: Promise<void> | undefined;
  private readonly notReady = new Set<MemberName>();
  private readonly k: Kube;
  private readonly ns: string;
  /** The sync in flight, if any: one at a time, and stop() waits for it. */
  private syncing: Promise<void> | undefined;
  private readonly nodes: Partial<Record<MemberName, string>>;
  private readonly mountsSecret: { name: string; keys: string[] } | undefined;
  private readonly tlsDirs: Partial<Record<MemberName, SecretDir>> = {};
  /** What was last written to each member's `tls` directory, and when its sources were last read. */
  private readonly tlsWritten: Partial<Record<MemberName, { content: string; at: number }>> = {};

  /**
   * With `nodes`, each member's pods are bound to its node, and deleted pods are finalised. With
   * `mountsSecret`, a pod waits in ContainerCreating while that Secret does not exist or lacks one
   * of `keys`, as a kubelet that cannot mount the pod's Secret volume (its items) does. With
   * `tlsDirs`, the pod's `tls` volume (a Secret or a projected volume of Secret and ConfigMap
   * items) is written to that member's directory as the kubelet writes a mounted volume (files
   * behind a `..data` symlink swapped at once), the pod waits in ContainerCreating while a source
   * or an item is missing, and the files are refreshed from the API server about every second.
   */
  constructor(
    k: Kube,
    ns: string,
    nodes: Partial<Record<MemberName, string>> = {},
    opts: {
      mountsSecret?: { name: string; keys: string[] };
      tlsDirs?: Partial<Record<MemberName, string>>;
    } = {},
  ) {
    this.k = k;
    this.ns = ns;
    this.nodes = nodes;
    this.mountsSecret = opts.mountsSecret;
    for (const [m, dir] of Object.entries(opts.tlsDirs ?? {}) as [MemberName, string][])
      this.tlsDirs[m] = new SecretDir(dir);
  }

  start(): void {
    this.timer = setInterval(() => {
      this.syncing ??= this.sync().finally(() => (this.syncing = undefined));
    }, 150);
    // The node lifecycle controller marks a node Ready=Unknown once nothing has renewed its
    // Lease or status for its grace period (40 s): a test that outlives that would see its nodes
    // fail as a real kubelet never lets them.
    const beat = () =>
      (this.heartbeating ??= this.renewNodeLeases().finally(() => (this.heartbeating = undefined)));
    if (Object.keys(this.nodes).length > 0) {
      void beat();
      this.heartbeatTimer = setInterval(beat, NODE_LEASE_RENEW_MS);
    }
  }

  /** Stops writing; resolves once a sync that was running has finished (nothing is written after). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.heartbeatTimer);
    await Promise.all([this.syncing, this.heartbeating]);
  }

  /** Renews each node's Lease in kube-node-lease, as its kubelet does; owned by the Node, so deleting the node deletes it. */
  private async renewNodeLeases(): Promise<void> {
    for (const nodeName of new Set(Object.values(this.nodes))) {
      try {
        const spec = { holderIdentity: nodeName, leaseDurationSeconds: 40, renewTime: new k8s.V1MicroTime() };
        const existing = await this.k.coordination
          .readNamespacedLease({ namespace: 'kube-node-lease', name: nodeName })
          .catch(() => undefined);
        if (existing) {
          await this.k.coordination.replaceNamespacedLease({
            namespace: 'kube-node-lease',
            name: nodeName,
            body: { ...existing, spec: { ...existing.spec, ...spec } },
          });
          continue;
        }
        const node = await this.k.core.readNode({ name: nodeName });
        await this.k.coordination.createNamespacedLease({
          namespace: 'kube-node-lease',
          body: {
            metadata: {
              name: nodeName,
              ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: nodeName, uid: node.metadata!.uid! }],
            },
            spec,
          },
        });
      } catch {
        // The node may not exist yet or be going away; the next beat tries again.
      }
    }
  }

  /** Marks the member's pod NotReady (or Ready again), as a failing readiness probe would. */
  async setReady(member: MemberName, ready: boolean): Promise<void> {
    if (ready) this.notReady.delete(member);
    else this.notReady.add(member);
    const pods = await this.k.core.listNamespacedPod({
      namespace: this.ns,
      labelSelector: `lpo.dev/member=${member}`,
    });
    for (const p of pods.items) if (p.status?.podIP) await this.writeStatus(p, member);
  }

  private async sync(): Promise<void> {
    try {
      const pods = await this.k.core.listNamespacedPod({ namespace: this.ns });
      for (const p of pods.items) {
        const member = p.metadata?.labels?.['lpo.dev/member'] as MemberName | undefined;
        if (!member) continue;
        const node = this.nodes[member];
        if (p.metadata?.deletionTimestamp) {
          // A bound pod is only gone once its kubelet confirms: do that, as the kubelet would.
          if (p.spec?.nodeName)
            await this.k.core
              .deleteNamespacedPod({ namespace: this.ns, name: p.metadata.name!, gracePeriodSeconds: 0 })
              .catch(() => undefined);
          continue;
        }
        if (node && !p.spec?.nodeName) {
          await this.k.core.createNamespacedBinding({
            namespace: this.ns,
            body: {
              metadata: { name: p.metadata!.name! },
              target: { apiVersion: 'v1', kind: 'Node', name: node },
            },
          });
        }
        const tlsMounted = await this.mountTls(p, member);
        if (p.status?.podIP) continue;
        if (!tlsMounted) {
          if (p.status?.containerStatuses?.[0]?.state?.waiting === undefined) await this.writeCreating(p);
          continue;
        }
        if (this.mountsSecret && !(await this.secretMountable(this.mountsSecret))) {
          if (p.status?.containerStatuses?.[0]?.state?.waiting === undefined) await this.writeCreating(p);
          continue;
        }
        await this.writeStatus(p, member);
      }
    } catch {
      // The namespace may be going away; the next tick tries again.
    }
  }

  /**
   * Writes the pod's `tls` volume to the member's directory (when given one); false while a source
   * or an item cannot be read. A pod that has none, or a member without a directory, is mounted.
   */
  private async mountTls(p: k8s.V1Pod, member: MemberName): Promise<boolean> {
    const dir = this.tlsDirs[member];
    const vol = p.spec?.volumes?.find((v) => v.name === 'tls');
    if (!dir || !vol) return true;
    const last = this.tlsWritten[member];
    if (p.status?.podIP && last && Date.now() - last.at < 1000) return true;
    const sources: k8s.V1VolumeProjection[] = vol.projected
      ? (vol.projected.sources ?? [])
      : vol.secret
        ? [{ secret: { name: vol.secret.secretName!, items: vol.secret.items ?? [] } }]
        : [];
    const files: Record<string, string> = {};
    for (const s of sources) {
      const items = s.secret?.items ?? s.configMap?.items ?? [];
      const data = s.secret
        ? await this.k.core.readNamespacedSecret({ namespace: this.ns, name: s.secret.name! }).then(
            (x) =>
              Object.fromEntries(
                Object.entries(x.data ?? {}).map(([key, v]) => [
                  key,
                  Buffer.from(v, 'base64').toString('utf8'),
                ]),
              ),
            () => undefined,
          )
        : s.configMap
          ? await this.k.core.readNamespacedConfigMap({ namespace: this.ns, name: s.configMap.name! }).then(
              (x) => x.data ?? {},
              () => undefined,
            )
          : {};
      if (!data) return false;
      for (const i of items) {
        const v = data[i.key];
        if (v === undefined) return false;
        files[i.path] = v;
      }
    }
    const [cert, key, ca] = [files['tls.crt'], files['tls.key'], files['ca.crt']];
    if (cert === undefined || key === undefined || ca === undefined) return false;
    const content = JSON.stringify([cert, key, ca]);
    if (last?.content !== content) dir.write({ cert, key, ca });
    this.tlsWritten[member] = { content, at: Date.now() };
    return true;
  }

  private async secretMountable(s: { name: string; keys: string[] }): Promise<boolean> {
    return this.k.core.readNamespacedSecret({ namespace: this.ns, name: s.name }).then(
      (secret) => s.keys.every((key) => secret.data?.[key] !== undefined),
      () => false,
    );
  }

  /** Pending, the container waiting to be created (its volumes cannot be mounted yet). */
  private async writeCreating(p: k8s.V1Pod): Promise<void> {
    await this.k.core.patchNamespacedPodStatus(
      {
        namespace: this.ns,
        name: p.metadata!.name!,
        body: {
          status: {
            phase: 'Pending',
            conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: new Date() }],
            containerStatuses: [
              {
                name: 'license-server',
                ready: false,
                restartCount: 0,
                image: p.spec?.containers[0]?.image ?? '',
                imageID: '',
                state: { waiting: { reason: 'ContainerCreating' } },
              },
            ],
          },
        },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
    );
  }

  private async writeStatus(p: k8s.V1Pod, member: MemberName): Promise<void> {
    const ready = !this.notReady.has(member);
    const now = new Date();
    await this.k.core.patchNamespacedPodStatus(
      {
        namespace: this.ns,
        name: p.metadata!.name!,
        body: {
          status: {
            phase: 'Running',
            podIP: memberIPs[member],
            podIPs: [{ ip: memberIPs[member] }],
            conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: now }],
            containerStatuses: [
              {
                name: 'license-server',
                ready,
                restartCount: 0,
                image: p.spec?.containers[0]?.image ?? '',
                imageID: '',
                state: { running: { startedAt: now } },
              },
            ],
          },
        },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
    );
  }
}

/** A licence fixture for the pair, its admin-token Secret, and both members started on loopback. */
export interface LoopbackPair {
  fx: Fixture;
  ports: Ports;
  members: Record<MemberName, LoopbackMember>;
  /** Stops both members and removes the fixture's files. */
  stop(): Promise<void>;
}

export async function startLoopbackPair(k: Kube, ns: string, pair: string): Promise<LoopbackPair> {
  const fx = licenceFixture(`${ns}/${pair}`);
  // The admin token the members use; the operator reads it from the pair's token Secret.
  await k.core.createNamespacedSecret({
    namespace: ns,
    body: { metadata: { name: `${pair}-admin-token` }, stringData: { token: fx.token } },
  });
  const ports = { licences: await freePort(), admin: await freePort(), metrics: await freePort() };
  const members = {
    primary: new LoopbackMember('primary', fx, ports, `${ns}/${pair}`),
    redundant: new LoopbackMember('redundant', fx, ports, `${ns}/${pair}`),
  };
  await members.primary.start();
  await members.redundant.start();
  return {
    fx,
    ports,
    members,
    async stop() {
      await members.primary.kill();
      await members.redundant.kill();
      fx.cleanup();
    },
  };
}

/** A loopback pair run by a real operator process (one replica), with the stand-in kubelet. */
export interface OperatedLoopbackPair extends LoopbackPair {
  kubelet: StandInKubelet;
  operator: OperatorProcess;
}

/** Starts the members, the stand-in kubelet and the operator, then creates the pair with `spec`. */
export async function startOperatedLoopbackPair(
  k: Kube,
  ns: string,
  pair: string,
  spec: Record<string, unknown>,
): Promise<OperatedLoopbackPair> {
  const loopback = await startLoopbackPair(k, ns, pair);
  const kubelet = new StandInKubelet(k, ns);
  kubelet.start();
  const operator = new OperatorProcess({ LEADER_ELECT: 'false', WATCH_NAMESPACE: ns });
  const stop = async () => {
    await kubelet.stop();
    await operator.stop();
    await loopback.stop();
  };
  try {
    await operator.start();
    await createLoopbackPairObject(k, ns, pair, loopback.ports, spec);
  } catch (err) {
    await stop();
    throw err;
  }
  return { ...loopback, kubelet, operator, stop };
}

/** Creates the LicenseServerPair whose members run on loopback (ports as started). */
export async function createLoopbackPairObject(
  k: Kube,
  ns: string,
  pair: string,
  ports: Ports,
  spec: Record<string, unknown>,
): Promise<void> {
  await k.custom.createNamespacedCustomObject({
    group: 'lpo.dev',
    version: 'v1alpha1',
    plural: 'licenseserverpairs',
    namespace: ns,
    body: {
      apiVersion: 'lpo.dev/v1alpha1',
      kind: 'LicenseServerPair',
      metadata: { name: pair },
      spec: {
        server: { license: { secretName: 'unused' }, ports },
        // The stand-in kubelet plays the node: a real node of the local cluster (when one is up)
        // must not get these pods from the scheduler and overwrite their status.
        placement: { nodeSelector: { 'lpo.dev/test': 'stand-in-kubelet' } },
        // The members are processes on loopback, started plaintext before the pair (and so its
        // certificates) exists: an explicit opt-out. The operator's TLS path has tests of its
        // own (integration/certificates.test.ts on the API server, e2e on a real node).
        tls: { mode: 'Disabled' },
        ...spec,
      },
    },
  });
}

/** The status the operator wrote for a pair (the parts tests look at). */
export interface ObservedPairStatus {
  liveMember?: string;
  phase?: string;
  epoch?: number;
  failoverCount?: number;
  lastFailover?: { from: string; to: string; reason: string; detectionSeconds?: number };
  members?: Record<string, { health?: string; role?: string; lastProbeTime?: string }>;
  conditions?: { type: string; status: string; reason: string }[];
  observedGeneration?: number;
  servingAlone?: { member: string; epoch: number; since: string };
}

export async function readPair(
  k: Kube,
  ns: string,
  pair: string,
): Promise<{ metadata: k8s.V1ObjectMeta; spec: Record<string, unknown>; status?: ObservedPairStatus }> {
  return (await k.custom.getNamespacedCustomObject({
    group: 'lpo.dev',
    version: 'v1alpha1',
    plural: 'licenseserverpairs',
    namespace: ns,
    name: pair,
  })) as never;
}

/** The member the pair's client Service selects (`none` when no member is live). */
export async function clientServiceMember(k: Kube, ns: string, pair: string): Promise<string | undefined> {
  return (await k.core.readNamespacedService({ namespace: ns, name: pair })).spec?.selector?.[
    'lpo.dev/member'
  ];
}
