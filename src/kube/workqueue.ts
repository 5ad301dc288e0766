import type { Registry } from 'prom-client';
import { Counter, Gauge, Histogram } from 'prom-client';

/**
 * A deduplicating, rate-limited work queue keyed by `namespace/name`, after client-go's:
 * - a key is queued at most once however often it is added (dirty set);
 * - a key being processed is never processed concurrently; re-added keys run again after;
 * - failures back off per key exponentially (baseMs · 2^n, capped);
 * - delayed adds share ONE timer (earliest due first), so there is no timer per key;
 * - urgent adds (a failover signal) jump ahead of routine work, so one pair's failover does not
 *   wait behind a thousand resyncs.
 * Metrics use controller-runtime's workqueue_* names so existing dashboards work.
 */
export interface WorkQueueOptions {
  name: string;
  baseDelayMs?: number;
  maxDelayMs?: number;
  registry?: Registry;
  now?: () => number;
}

interface Metrics {
  depth: Gauge;
  adds: Counter;
  retries: Counter;
  queueDuration: Histogram;
  workDuration: Histogram;
  unfinished: Gauge;
  longest: Gauge;
}

const metricsByRegistry = new WeakMap<Registry, Metrics>();

function metricsFor(registry: Registry): Metrics {
  let m = metricsByRegistry.get(registry);
  if (m) return m;
  // Up to minutes: a burst of a thousand new pairs queues for that long, and the histogram should say so.
  const buckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
  m = {
    depth: new Gauge({
      name: 'workqueue_depth',
      help: 'Current depth of workqueue',
      labelNames: ['name', 'controller'],
      registers: [registry],
    }),
    adds: new Counter({
      name: 'workqueue_adds_total',
      help: 'Total number of adds handled by workqueue',
      labelNames: ['name', 'controller'],
      registers: [registry],
    }),
    retries: new Counter({
      name: 'workqueue_retries_total',
      help: 'Total number of retries handled by workqueue',
      labelNames: ['name', 'controller'],
      registers: [registry],
    }),
    queueDuration: new Histogram({
      name: 'workqueue_queue_duration_seconds',
      help: 'How long in seconds an item stays in workqueue before being requested',
      labelNames: ['name', 'controller'],
      buckets,
      registers: [registry],
    }),
    workDuration: new Histogram({
      name: 'workqueue_work_duration_seconds',
      help: 'How long in seconds processing an item from workqueue takes',
      labelNames: ['name', 'controller'],
      buckets,
      registers: [registry],
    }),
    unfinished: new Gauge({
      name: 'workqueue_unfinished_work_seconds',
      help: "How many seconds of work has been done that is in progress and hasn't been observed by work_duration",
      labelNames: ['name', 'controller'],
      registers: [registry],
    }),
    longest: new Gauge({
      name: 'workqueue_longest_running_processor_seconds',
      help: 'How many seconds has the longest running processor for workqueue been running',
      labelNames: ['name', 'controller'],
      registers: [registry],
    }),
  };
  metricsByRegistry.set(registry, m);
  return m;
}

export class WorkQueue {
  private readonly urgent: string[] = [];
  private readonly routine: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly urgentDirty = new Set<string>();
  private readonly processing = new Map<string, number>();
  private readonly enqueuedAt = new Map<string, number>();
  private readonly failures = new Map<string, number>();
  private readonly delayed = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private timerDue = Infinity;
  private waiters: (() => void)[] = [];
  private shuttingDown = false;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly now: () => number;
  private readonly metrics: Metrics | undefined;
  private readonly labels: { name: string; controller: string };

  constructor(opts: WorkQueueOptions) {
    this.baseDelayMs = opts.baseDelayMs ?? 100;
    this.maxDelayMs = opts.maxDelayMs ?? 60_000;
    this.now = opts.now ?? (() => performance.now());
    this.metrics = opts.registry ? metricsFor(opts.registry) : undefined;
    this.labels = { name: opts.name, controller: opts.name };
  }

  get length(): number {
    return this.urgent.length + this.routine.length;
  }

  add(key: string, opts: { urgent?: boolean } = {}): void {
    if (this.shuttingDown) return;
    this.metrics?.adds.inc(this.labels);
    if (opts.urgent) {
      if (this.urgentDirty.has(key)) return;
      this.urgentDirty.add(key);
      if (this.dirty.has(key)) {
        // Already waiting as routine work: move it ahead. (If it is being processed, done()
        // requeues it on the urgent lane.)
        const i = this.routine.indexOf(key);
        if (i >= 0) {
          this.routine.splice(i, 1);
          this.urgent.push(key);
        }
      } else {
        this.dirty.add(key);
        this.enqueuedAt.set(key, this.now());
        if (!this.processing.has(key)) this.urgent.push(key);
      }
      this.updateDepth();
      this.wake();
      return;
    }
    if (this.dirty.has(key)) return;
    this.dirty.add(key);
    this.enqueuedAt.set(key, this.now());
    if (!this.processing.has(key)) this.routine.push(key);
    this.updateDepth();
    this.wake();
  }

  /** Adds the key after `ms`; a key waits once, for its earliest due time. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const due = this.now() + ms;
    const existing = this.delayed.get(key);
    if (existing !== undefined && existing <= due) return;
    this.delayed.set(key, due);
    this.armTimer();
  }

  /** Re-adds a failed key after its exponential backoff. */
  addRateLimited(key: string): void {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    this.metrics?.retries.inc(this.labels);
    this.addAfter(key, Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** n));
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Resolves with the next key, or undefined once the queue shuts down. */
  async get(): Promise<string | undefined> {
    for (;;) {
      const key = this.urgent.shift() ?? this.routine.shift();
      if (key !== undefined) {
        this.dirty.delete(key);
        this.urgentDirty.delete(key);
        this.processing.set(key, this.now());
        const at = this.enqueuedAt.get(key);
        this.enqueuedAt.delete(key);
        if (at !== undefined) this.metrics?.queueDuration.observe(this.labels, (this.now() - at) / 1000);
        this.updateDepth();
        return key;
      }
      if (this.shuttingDown) return undefined;
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  done(key: string): void {
    const started = this.processing.get(key);
    this.processing.delete(key);
    if (started !== undefined) this.metrics?.workDuration.observe(this.labels, (this.now() - started) / 1000);
    if (this.dirty.has(key)) {
      (this.urgentDirty.has(key) ? this.urgent : this.routine).push(key);
      this.wake();
    }
    this.updateDepth();
  }

  shutdown(): void {
    this.shuttingDown = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
  }

  /** Refreshes the gauges about in-flight work; called by the metrics collector. */
  observeInFlight(): void {
    if (!this.metrics) return;
    const now = this.now();
    let total = 0;
    let longest = 0;
    for (const started of this.processing.values()) {
      total += now - started;
      longest = Math.max(longest, now - started);
    }
    this.metrics.unfinished.set(this.labels, total / 1000);
    this.metrics.longest.set(this.labels, longest / 1000);
  }

  private wake(): void {
    const w = this.waiters.shift();
    if (w) w();
  }

  private updateDepth(): void {
    this.metrics?.depth.set(this.labels, this.length);
  }

  private armTimer(): void {
    let earliest = Infinity;
    for (const due of this.delayed.values()) earliest = Math.min(earliest, due);
    if (earliest === Infinity) return;
    if (this.timer && this.timerDue <= earliest) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerDue = earliest;
    this.timer = setTimeout(() => this.fireDue(), Math.max(0, earliest - this.now()));
    this.timer.unref?.();
  }

  private fireDue(): void {
    this.timer = undefined;
    this.timerDue = Infinity;
    const now = this.now();
    for (const [key, due] of this.delayed) {
      if (due <= now + 1) {
        this.delayed.delete(key);
        this.add(key);
      }
    }
    this.armTimer();
  }
}
