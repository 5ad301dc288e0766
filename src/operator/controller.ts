import type * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { API_VERSION, KIND, LABEL_PAIR, PLURAL } from '../api/pair.ts';
import { EventRecorder } from '../kube/events.ts';
import { Informer, errMessage, objectKey } from '../kube/informer.ts';
import { WorkQueue } from '../kube/workqueue.ts';
import { metadataOnly, slimNode, slimPod, withoutManagedFields } from '../kube/slim.ts';
import { KubeWriter, NotLeaderError } from '../kube/writer.ts';
import { CONTROLLER, PairSeries, type Metrics, type TriggerSource } from './metrics.ts';
import { Prober } from './prober.ts';
import type { OperatorPeer } from './pair-network-policy.ts';
import { Reconciler } from './reconciler.ts';
import { InstallationCa } from './tls/installation-ca.ts';
import { OperatorCertificate } from './tls/operator-certificate.ts';
import { operatorContexts } from './tls/member-endpoint.ts';
import { PairCertificates } from './tls/pair-certificates.ts';
import { ProvidedCertificates } from './tls/provided-certificates.ts';

/**
 * Wires the informers (pairs, and the pods, Services, PDBs, PVCs, NetworkPolicies and Nodes they own
 * or use) to a work queue keyed by `namespace/name`, and the queue to a bounded pool of reconcile workers.
 * Signals of failure (a member pod deleted, not ready, its container terminated, its node not
 * ready, a failed health check) enqueue the pair as urgent work.
 */
export interface ControllerOptions {
  kc: k8s.KubeConfig;
  watchNamespaces: string[];
  fieldManager: string;
  isLeader: () => boolean;
  metrics: Metrics;
  log: Logger;
  workers: number;
  probeConcurrency: number;
  standbySilenceWatch?: boolean;
  resyncMs: number;
  operatorPeer?: OperatorPeer;
  /** With leader election: the Lease's duration and a retry period (see serving.ts, soloGrantMs). */
  leaderHandoverMs?: number;
  tls: TlsSettings;
}

/** Where the installation CA lives and how long the certificates the operator issues live. */
export interface TlsSettings {
  operatorNamespace: string;
  caLifetimeMs: number;
  caPropagationMs: number;
  memberLifetimeMs: number;
  operatorLifetimeMs: number;
  clusterDomain: string;
}

/** How often the operator's own certificate is checked for renewal (it renews at two thirds). */
const OPERATOR_CERT_CHECK_MS = 60_000;

const MANAGED = 'app.kubernetes.io/managed-by=license-pair-operator';

export class Controller {
  readonly queue: WorkQueue;
  readonly prober: Prober;
  private readonly operatorCertificate: OperatorCertificate;
  private certificateTimer: NodeJS.Timeout | undefined;
  private readonly informers: Informer<k8s.KubernetesObject>[] = [];
  private readonly reconciler: Reconciler;
  /** Every pair, across the watched namespaces. */
  private readonly pairs: Informer<k8s.KubernetesObject>;
  private readonly pods: Informer<k8s.V1Pod>[] = [];
  private running = false;
  private readonly opts: ControllerOptions;
  private readonly podsByNode = new Map<string, Set<string>>();

  constructor(opts: ControllerOptions) {
    this.opts = opts;
    const { kc, metrics, log } = opts;
    this.queue = new WorkQueue({ name: CONTROLLER, registry: metrics.registry });
    const scopes = opts.watchNamespaces.length ? opts.watchNamespaces : [undefined];
    const make = <T extends k8s.KubernetesObject>(
      apiVersion: string,
      kind: string,
      plural: string,
      ns: string | undefined,
      labelSelector: string | undefined,
      transform: (obj: T) => T,
    ) => {
      const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
      const inf = new Informer<T>({
        kc,
        apiVersion,
        kind,
        path: ns ? `${base}/namespaces/${ns}/${plural}` : `${base}/${plural}`,
        ...(ns ? { namespace: ns } : {}),
        ...(labelSelector ? { labelSelector } : {}),
        transform,
        resyncMs: opts.resyncMs,
        log,
        registry: metrics.registry,
      });
      this.informers.push(inf as unknown as Informer<k8s.KubernetesObject>);
      return inf;
    };
    // One informer per resource and watched namespace; the reconciler reads through a merged view.
    const merged = <T extends k8s.KubernetesObject>(list: Informer<T>[]) => mergedView(list);
    // The caches keep only what the reconciler reads (src/kube/slim.ts): a thousand pairs fit in
    // a small heap.
    const pairInfs = scopes.map((ns) =>
      make<k8s.KubernetesObject>(API_VERSION, KIND, PLURAL, ns, undefined, withoutManagedFields),
    );
    const podInfs = scopes.map((ns) => make<k8s.V1Pod>('v1', 'Pod', 'pods', ns, MANAGED, slimPod));
    const svcInfs = scopes.map((ns) =>
      make<k8s.V1Service>('v1', 'Service', 'services', ns, MANAGED, metadataOnly),
    );
    const pdbInfs = scopes.map((ns) =>
      make<k8s.V1PodDisruptionBudget>(
        'policy/v1',
        'PodDisruptionBudget',
        'poddisruptionbudgets',
        ns,
        MANAGED,
        metadataOnly,
      ),
    );
    const pvcInfs = scopes.map((ns) =>
      make<k8s.V1PersistentVolumeClaim>(
        'v1',
        'PersistentVolumeClaim',
        'persistentvolumeclaims',
        ns,
        MANAGED,
        metadataOnly,
      ),
    );
    const netpolInfs = scopes.map((ns) =>
      make<k8s.V1NetworkPolicy>(
        'networking.k8s.io/v1',
        'NetworkPolicy',
        'networkpolicies',
        ns,
        MANAGED,
        metadataOnly,
      ),
    );
    // Node signals need cluster-wide read access; a single-namespace install goes without them.
    const nodeInf = opts.watchNamespaces.length
      ? undefined
      : make<k8s.V1Node>('v1', 'Node', 'nodes', undefined, undefined, slimNode);
    this.pairs = merged(pairInfs);
    this.pods.push(...podInfs);

    this.prober = new Prober({
      concurrency: opts.probeConcurrency,
      watchStandbys: opts.standbySilenceWatch ?? false,
      log,
      metrics,
      isLeader: opts.isLeader,
      // A failure is urgent; so is a member turning healthy in a pair that has no live member
      // (nobody is served until it is promoted, e.g. each new pair).
      onChange: (pairKey, signal) =>
        this.trigger(pairKey, `probe-${signal}`, {
          urgent: signal === 'failure' || (signal === 'healthy' && !this.hasLiveMember(pairKey)),
        }),
    });
    const series = new PairSeries(metrics);
    const writer = new KubeWriter({
      kc,
      fieldManager: opts.fieldManager,
      isLeader: opts.isLeader,
      writes: metrics.apiWrites,
    });
    const ca = new InstallationCa(
      {
        read: (ns, name) => writer.readSecret(ns, name),
        create: (secret) => writer.createIfAbsent(secret),
        replace: (secret) => writer.replaceSecret(secret),
      },
      opts.tls.operatorNamespace,
      { caLifetimeMs: opts.tls.caLifetimeMs, propagationMs: opts.tls.caPropagationMs },
      log,
    );
    ca.onChange = () => {
      for (const p of this.pairs.list()) this.trigger(objectKey(p), 'resync');
    };
    this.operatorCertificate = new OperatorCertificate(ca, opts.tls.operatorLifetimeMs);
    const operatorCertificate = this.operatorCertificate;
    const pairCertificates = new PairCertificates(
      ca,
      {
        readSecret: (ns, name) => writer.readSecret(ns, name),
        apply: (desired, live) => writer.applyIfChanged(desired, live),
      },
      { memberLifetimeMs: opts.tls.memberLifetimeMs, clusterDomain: opts.tls.clusterDomain },
    );
    const providedCertificates = new ProvidedCertificates(
      ca,
      {
        readSecret: (ns, name) => writer.readSecret(ns, name),
        apply: (desired, live) => writer.applyIfChanged(desired, live),
      },
      { clusterDomain: opts.tls.clusterDomain },
    );
    this.reconciler = new Reconciler({
      certificates: {
        pairs: pairCertificates,
        provided: providedCertificates,
        operatorContext: operatorContexts(operatorCertificate, providedCertificates),
      },
      pairs: this.pairs,
      pods: merged(podInfs),
      services: merged(svcInfs),
      pdbs: merged(pdbInfs),
      pvcs: merged(pvcInfs),
      networkPolicies: merged(netpolInfs),
      ...(opts.operatorPeer ? { operatorPeer: opts.operatorPeer } : {}),
      ...(nodeInf ? { nodes: nodeInf } : {}),
      writer,
      events: new EventRecorder(writer, 'license-pair-operator', log),
      prober: this.prober,
      metrics,
      series,
      log,
      ...(opts.leaderHandoverMs ? { leaderHandoverMs: opts.leaderHandoverMs } : {}),
    });

    const enqueue = (obj: k8s.KubernetesObject, source: TriggerSource) =>
      this.trigger(objectKey(obj), source);
    for (const inf of pairInfs) {
      inf.on({
        add: (o) => enqueue(o, 'pair'),
        update: (a, b) => {
          // Spec or annotation changes; status-only updates are our own writes.
          if (
            a.metadata?.generation !== b.metadata?.generation ||
            JSON.stringify(a.metadata?.annotations) !== JSON.stringify(b.metadata?.annotations)
          )
            enqueue(b, 'pair');
        },
        delete: (o) => enqueue(o, 'pair'),
        resync: (o) => enqueue(o, 'resync'),
      });
    }
    const ownerKey = (o: k8s.KubernetesObject) => {
      const pair = o.metadata?.labels?.[LABEL_PAIR];
      return pair ? `${o.metadata?.namespace}/${pair}` : undefined;
    };
    for (const inf of podInfs) {
      inf.on({
        add: (p) => {
          this.indexPod(p);
          const k = ownerKey(p);
          if (k) this.trigger(k, 'pod');
        },
        update: (a, b) => {
          this.indexPod(b);
          const k = ownerKey(b);
          if (k) this.trigger(k, 'pod', { urgent: podGotWorse(a, b) });
        },
        delete: (p) => {
          this.unindexPod(p);
          const k = ownerKey(p);
          if (k) this.trigger(k, 'pod', { urgent: true });
        },
      });
    }
    for (const infs of [svcInfs, pdbInfs, pvcInfs, netpolInfs] as Informer<k8s.KubernetesObject>[][]) {
      for (const inf of infs) {
        inf.on({
          // A child changed or removed by someone else is put back.
          update: (a, b) => {
            const k = ownerKey(b);
            if (k && childChanged(a, b)) this.trigger(k, 'child');
          },
          delete: (o) => {
            const k = ownerKey(o);
            if (k) this.trigger(k, 'child');
          },
        });
      }
    }
    nodeInf?.on({
      update: (a, b) => {
        if (nodeReady(a) !== nodeReady(b))
          for (const k of this.pairsOnNode(b.metadata!.name!))
            this.trigger(k, 'node', { urgent: nodeReady(b) !== 'True' });
      },
      delete: (n) => {
        for (const k of this.pairsOnNode(n.metadata!.name!)) this.trigger(k, 'node', { urgent: true });
      },
    });
  }

  /** Queues a pair's reconcile and counts why (lpo_reconcile_triggers_total: what keeps the operator busy). */
  private trigger(key: string, source: TriggerSource, opts: { urgent?: boolean } = {}): void {
    this.opts.metrics.reconcileTriggers.inc({ source });
    this.queue.add(key, opts);
  }

  private hasLiveMember(pairKey: string): boolean {
    const pair = this.pairs.get(pairKey) as { status?: { liveMember?: string } } | undefined;
    return (pair?.status?.liveMember ?? '') !== '';
  }

  private indexPod(p: k8s.V1Pod): void {
    const node = p.spec?.nodeName;
    const k = p.metadata?.labels?.[LABEL_PAIR];
    if (!node || !k) return;
    const set = this.podsByNode.get(node) ?? new Set<string>();
    set.add(`${p.metadata?.namespace}/${k}`);
    this.podsByNode.set(node, set);
  }

  private unindexPod(p: k8s.V1Pod): void {
    const node = p.spec?.nodeName;
    const k = p.metadata?.labels?.[LABEL_PAIR];
    if (!node || !k) return;
    this.podsByNode.get(node)?.delete(`${p.metadata?.namespace}/${k}`);
  }

  private pairsOnNode(node: string): string[] {
    return [...(this.podsByNode.get(node) ?? [])];
  }

  /** Start watching (also on non-leaders, so a new leader starts with warm caches). */
  startInformers(): void {
    for (const inf of this.informers) inf.start();
  }

  get synced(): boolean {
    return this.informers.every((i) => i.hasSynced);
  }

  async waitForSync(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.waitForSync()));
  }

  /** Start probing and reconciling: only on the leader. */
  async startWorkers(): Promise<void> {
    await this.waitForSync();
    this.running = true;
    await this.refreshOperatorCertificate();
    this.certificateTimer = setInterval(() => void this.refreshOperatorCertificate(), OPERATOR_CERT_CHECK_MS);
    this.prober.start();
    for (const p of this.pairs.list()) this.queue.add(objectKey(p));
    this.opts.metrics.maxConcurrent.set({ controller: CONTROLLER }, this.opts.workers);
    for (let i = 0; i < this.opts.workers; i++) void this.worker();
  }

  /** The operator's client certificate for TLS members; a failure is logged and retried on the timer. */
  private async refreshOperatorCertificate(): Promise<void> {
    try {
      await this.operatorCertificate.refresh();
      const notAfter = this.operatorCertificate.notAfter;
      if (notAfter) this.opts.metrics.operatorCertificateExpiry.set(notAfter.getTime() / 1000);
    } catch (err) {
      this.opts.log.error(
        { err: (err as Error).message },
        'could not load the installation CA or issue the operator certificate',
      );
    }
  }

  stop(): void {
    clearInterval(this.certificateTimer);
    this.running = false;
    this.queue.shutdown();
    this.prober.stop();
    for (const inf of this.informers) inf.stop();
  }

  private async worker(): Promise<void> {
    const { metrics, log } = this.opts;
    while (this.running) {
      const key = await this.queue.get();
      if (key === undefined) return;
      metrics.activeWorkers.inc({ controller: CONTROLLER });
      const end = metrics.reconcileTime.startTimer({ controller: CONTROLLER });
      try {
        const r = await this.reconciler.reconcile(key);
        this.queue.forget(key);
        if (r.requeueAfterMs !== undefined) {
          this.queue.addAfter(key, r.requeueAfterMs);
          metrics.reconcileTotal.inc({ controller: CONTROLLER, result: 'requeue_after' });
        } else {
          metrics.reconcileTotal.inc({ controller: CONTROLLER, result: 'success' });
        }
      } catch (err) {
        if (err instanceof NotLeaderError) {
          // Deposed: stop working; main exits and a restarted replica campaigns again.
          this.running = false;
          continue;
        }
        metrics.reconcileTotal.inc({ controller: CONTROLLER, result: 'error' });
        metrics.reconcileErrors.inc({ controller: CONTROLLER });
        log.warn(
          { pair: key, err: errMessage(err), retries: this.queue.numRequeues(key) },
          'reconcile failed; retrying with backoff',
        );
        this.queue.addRateLimited(key);
      } finally {
        end();
        this.queue.done(key);
        metrics.activeWorkers.dec({ controller: CONTROLLER });
        this.queue.observeInFlight();
      }
    }
  }
}

function podReady(p: k8s.V1Pod): boolean {
  return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

function podGotWorse(a: k8s.V1Pod, b: k8s.V1Pod): boolean {
  if (!a.metadata?.deletionTimestamp && b.metadata?.deletionTimestamp) return true;
  if (podReady(a) && !podReady(b)) return true;
  const terminated = (p: k8s.V1Pod) =>
    p.status?.containerStatuses?.some((c) => c.state?.terminated !== undefined) ?? false;
  return !terminated(a) && terminated(b);
}

/**
 * What the operator reads of a child is its metadata (the applied hash, labels, deletion) and, for
 * drift, its generation: a status update (a PDB's counts, changed with every pod) is not a reason
 * to reconcile.
 */
function childChanged(a: k8s.KubernetesObject, b: k8s.KubernetesObject): boolean {
  const m = (o: k8s.KubernetesObject) => o.metadata ?? {};
  return (
    m(a).generation !== m(b).generation ||
    m(a).deletionTimestamp !== m(b).deletionTimestamp ||
    JSON.stringify(m(a).annotations) !== JSON.stringify(m(b).annotations) ||
    JSON.stringify(m(a).labels) !== JSON.stringify(m(b).labels)
  );
}

function nodeReady(n: k8s.V1Node): string {
  return n.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? 'Unknown';
}

/** Reads across the per-namespace informers of one resource. */
function mergedView<T extends k8s.KubernetesObject>(list: Informer<T>[]): Informer<T> {
  if (list.length === 1) return list[0]!;
  return {
    get: (key: string) => {
      for (const inf of list) {
        const v = inf.get(key);
        if (v) return v;
      }
      return undefined;
    },
    list: () => list.flatMap((i) => i.list()),
  } as unknown as Informer<T>;
}
