import type * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { EventRecorder } from '../kube/events.ts';
import { objectKey, type Informer } from '../kube/informer.ts';
import { WorkQueue } from '../kube/workqueue.ts';
import { KubeWriter } from '../kube/writer.ts';
import { CONTROLLER, PairSeries, type Metrics, type TriggerSource } from './metrics.ts';
import { createInformers, mergedView } from './operator-informers.ts';
import { OperatorTls, type TlsSettings } from './operator-tls.ts';
import type { OperatorPeer } from './pair-network-policy.ts';
import { Prober } from './prober.ts';
import { reconcileWorker } from './reconcile-worker.ts';
import { triggerReconciles } from './reconcile-triggers.ts';
import { Reconciler } from './reconciler.ts';

/** The component the operator's Events name (source.component, reportingComponent). */
export const OPERATOR_COMPONENT = 'license-pair-operator';

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

export class Controller {
  readonly queue: WorkQueue;
  readonly prober: Prober;
  private readonly tls: OperatorTls;
  private readonly informers: Informer<k8s.KubernetesObject>[];
  private readonly reconciler: Reconciler;
  /** Every pair, across the watched namespaces. */
  private readonly pairs: Informer<k8s.KubernetesObject>;
  private running = false;
  private readonly opts: ControllerOptions;

  constructor(opts: ControllerOptions) {
    this.opts = opts;
    const { kc, metrics, log } = opts;
    this.queue = new WorkQueue({ name: CONTROLLER, registry: metrics.registry });
    const informers = createInformers({
      kc,
      watchNamespaces: opts.watchNamespaces,
      resyncMs: opts.resyncMs,
      log,
      registry: metrics.registry,
    });
    this.informers = informers.all;
    // One informer per resource and watched namespace; the reconciler reads through a merged view.
    this.pairs = mergedView(informers.pairs);

    this.prober = new Prober({
      concurrency: opts.probeConcurrency,
      watchStandbys: opts.standbySilenceWatch ?? true,
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
    this.tls = new OperatorTls(writer, opts.tls, metrics, log, () => {
      for (const p of this.pairs.list()) this.trigger(objectKey(p), 'resync');
    });
    this.reconciler = new Reconciler({
      certificates: this.tls.certificates,
      pairs: this.pairs,
      pods: mergedView(informers.pods),
      services: mergedView(informers.services),
      pdbs: mergedView(informers.pdbs),
      pvcs: mergedView(informers.pvcs),
      networkPolicies: mergedView(informers.networkPolicies),
      ...(opts.operatorPeer ? { operatorPeer: opts.operatorPeer } : {}),
      ...(informers.nodes ? { nodes: informers.nodes } : {}),
      writer,
      events: new EventRecorder(writer, OPERATOR_COMPONENT, log),
      prober: this.prober,
      metrics,
      series,
      log,
      ...(opts.leaderHandoverMs ? { leaderHandoverMs: opts.leaderHandoverMs } : {}),
    });

    triggerReconciles(informers, (key, source, o) => this.trigger(key, source, o));
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
    await this.tls.start();
    this.prober.start();
    for (const p of this.pairs.list()) this.queue.add(objectKey(p));
    this.opts.metrics.maxConcurrent.set({ controller: CONTROLLER }, this.opts.workers);
    for (let i = 0; i < this.opts.workers; i++)
      void reconcileWorker({
        queue: this.queue,
        reconcile: (key) => this.reconciler.reconcile(key),
        metrics: this.opts.metrics,
        log: this.opts.log,
        running: () => this.running,
        deposed: () => {
          this.running = false;
        },
      });
  }

  stop(): void {
    this.tls.stop();
    this.running = false;
    this.queue.shutdown();
    this.prober.stop();
    for (const inf of this.informers) inf.stop();
  }
}
