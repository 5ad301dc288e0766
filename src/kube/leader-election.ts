import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Gauge } from 'prom-client';

/**
 * Lease-based leader election, client-go's algorithm:
 * - a candidate takes the Lease when it is free or when the holder has not renewed it for
 *   leaseDuration, measured on OUR clock from when we last saw the record change (never trusting
 *   the other replica's clock);
 * - the leader renews every retryPeriod and gives up leadership if it could not renew within
 *   renewDeadline (< leaseDuration), so an old leader stops writing before anyone may take over;
 * - writes use the Lease's resourceVersion (optimistic concurrency): two candidates cannot both win.
 */
export interface LeaderElectionOptions {
  kc: k8s.KubeConfig;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  log: Logger;
  registry?: Registry;
  onStartedLeading: () => void;
  /** Called once when leadership is lost; the process should stop writing at once (exit). */
  onStoppedLeading: () => void;
}

export class LeaderElector {
  private readonly coordination: k8s.CoordinationV1Api;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private observedRecord = '';
  private observedAt = 0;
  private leading = false;
  private stopped = false;
  private lastRenew = 0;
  private readonly gauge: Gauge | undefined;
  private readonly opts: LeaderElectionOptions;

  constructor(opts: LeaderElectionOptions) {
    this.opts = opts;
    this.coordination = opts.kc.makeApiClient(k8s.CoordinationV1Api);
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    if (!(this.leaseDurationMs > this.renewDeadlineMs && this.renewDeadlineMs > this.retryPeriodMs)) {
      throw new Error('leader election needs leaseDuration > renewDeadline > retryPeriod');
    }
    this.gauge = opts.registry
      ? ((opts.registry.getSingleMetric('leader_election_master_status') as Gauge | undefined) ??
        new Gauge({
          name: 'leader_election_master_status',
          help: "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. 'name' is the string used to identify the lease.",
          labelNames: ['name'],
          registers: [opts.registry],
        }))
      : undefined;
    this.gauge?.set({ name: opts.name }, 0);
  }

  get isLeader(): boolean {
    // Leadership expires locally too: if renewals have stalled past the deadline, stop trusting it
    // even before the renew loop notices.
    return this.leading && performance.now() - this.lastRenew < this.renewDeadlineMs;
  }

  async run(): Promise<void> {
    while (!this.stopped && !this.leading) {
      if (await this.tryAcquireOrRenew()) {
        this.leading = true;
        this.lastRenew = performance.now();
        this.gauge?.set({ name: this.opts.name }, 1);
        this.opts.log.info(
          { lease: `${this.opts.namespace}/${this.opts.name}`, identity: this.opts.identity },
          'became leader',
        );
        this.opts.onStartedLeading();
        break;
      }
      await sleep(jitter(this.retryPeriodMs));
    }
    while (!this.stopped && this.leading) {
      await sleep(this.retryPeriodMs);
      if (this.stopped) break;
      // A renewal stuck on a broken network must not outlive the deadline: give up when it
      // passes, so the process exits before another replica can take the Lease (leaseDuration
      // after the last renewal).
      const left = Math.max(0, this.renewDeadlineMs - (performance.now() - this.lastRenew));
      const ok = await Promise.race([this.tryAcquireOrRenew(), sleep(left).then(() => false)]);
      if (ok) {
        this.lastRenew = performance.now();
      } else if (performance.now() - this.lastRenew >= this.renewDeadlineMs) {
        this.leading = false;
        this.gauge?.set({ name: this.opts.name }, 0);
        this.opts.log.error(
          { lease: `${this.opts.namespace}/${this.opts.name}` },
          'lost leadership: could not renew the lease in time',
        );
        this.opts.onStoppedLeading();
      }
    }
  }

  /** Stops campaigning; a leader releases the Lease so a successor need not wait for expiry. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (!this.leading) return;
    this.leading = false;
    this.gauge?.set({ name: this.opts.name }, 0);
    try {
      const lease = await this.coordination.readNamespacedLease({
        name: this.opts.name,
        namespace: this.opts.namespace,
      });
      if (lease.spec?.holderIdentity === this.opts.identity) {
        lease.spec.holderIdentity = undefined;
        lease.spec.renewTime = undefined;
        lease.spec.acquireTime = undefined;
        lease.spec.leaseDurationSeconds = 1;
        await this.coordination.replaceNamespacedLease({
          name: this.opts.name,
          namespace: this.opts.namespace,
          body: lease,
        });
      }
    } catch (err) {
      this.opts.log.warn({ err: String(err) }, 'could not release the lease');
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    // Lease times are MicroTime: the API server wants six fractional digits.
    const now = new k8s.V1MicroTime(Date.now());
    const { namespace, name, identity } = this.opts;
    const leaseDurationSeconds = Math.ceil(this.leaseDurationMs / 1000);
    let lease: k8s.V1Lease;
    try {
      lease = await this.coordination.readNamespacedLease({ name, namespace });
    } catch (err) {
      if ((err as { code?: number }).code !== 404) {
        this.opts.log.warn({ err: String(err) }, 'could not read the leader lease');
        return false;
      }
      try {
        await this.coordination.createNamespacedLease({
          namespace,
          body: {
            metadata: { name, namespace },
            spec: {
              holderIdentity: identity,
              leaseDurationSeconds,
              acquireTime: now,
              renewTime: now,
              leaseTransitions: 0,
            },
          },
        });
        this.observe(`${identity}|${now.toISOString()}`);
        return true;
      } catch {
        return false;
      }
    }
    const spec = lease.spec ?? {};
    const record = `${spec.holderIdentity ?? ''}|${spec.renewTime ? new Date(spec.renewTime).toISOString() : ''}`;
    if (record !== this.observedRecord) this.observe(record);
    const holder = spec.holderIdentity;
    const heldByOther = !!holder && holder !== identity;
    const holderDurationMs = (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
    if (heldByOther && performance.now() - this.observedAt < holderDurationMs) return false;
    const takingOver = holder !== identity;
    lease.spec = {
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds,
      renewTime: now,
      acquireTime:
        takingOver || !spec.acquireTime ? now : new k8s.V1MicroTime(new Date(spec.acquireTime).getTime()),
      leaseTransitions: (spec.leaseTransitions ?? 0) + (takingOver && holder ? 1 : 0),
    };
    try {
      // replace carries metadata.resourceVersion: a concurrent writer makes this fail with 409.
      await this.coordination.replaceNamespacedLease({ name, namespace, body: lease });
      this.observe(`${identity}|${now.toISOString()}`);
      return true;
    } catch (err) {
      if ((err as { code?: number }).code !== 409)
        this.opts.log.warn({ err: String(err) }, 'could not update the leader lease');
      return false;
    }
  }

  private observe(record: string): void {
    this.observedRecord = record;
    this.observedAt = performance.now();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function jitter(ms: number): number {
  return ms * (1 + Math.random() * 0.2);
}
