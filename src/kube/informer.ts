import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Counter, Gauge } from 'prom-client';

/**
 * A list+watch cache for one resource type that does not go quiet.
 *
 * client-node's own informer stops on watch errors and can silently stop receiving events, so this
 * one: re-watches from the last resourceVersion after every close (with backoff after errors);
 * relists on `410 Gone`; asks for bookmarks so a quiet watch still advances; aborts a watch that
 * has been silent too long (the Watch inactivity timer); and relists periodically, diffing the
 * cache, as a safety net against lost events. Handlers see add/update/delete, and every cached
 * object again on each resync (level-triggered reconcile does the rest).
 */
export interface InformerOptions<T = unknown> {
  kc: k8s.KubeConfig;
  apiVersion: string;
  kind: string;
  /** e.g. /api/v1/pods or /apis/lpo.dev/v1alpha1/namespaces/ns/licenseserverpairs */
  path: string;
  namespace?: string;
  labelSelector?: string;
  resyncMs?: number;
  relistMs?: number;
  log: Logger;
  registry?: Registry;
  /** What of each object is cached and handed to handlers (src/kube/slim.ts); the whole object by default. */
  transform?: (obj: T) => T;
  /** Objects per page of a (re)list; 500, as client-go's reflector. */
  pageSize?: number;
}

export interface Handlers<T> {
  add?(obj: T): void;
  update?(oldObj: T, newObj: T): void;
  delete?(obj: T): void;
  resync?(obj: T): void;
}

interface Meta {
  metadata?: k8s.V1ObjectMeta;
}

const restarts = new WeakMap<Registry, { restarts: Counter; lastEvent: Gauge }>();

function metricsFor(registry: Registry) {
  let m = restarts.get(registry);
  if (!m) {
    m = {
      restarts: new Counter({
        name: 'lpo_informer_watch_restarts_total',
        help: 'Watches restarted, by resource and cause',
        labelNames: ['resource', 'cause'],
        registers: [registry],
      }),
      lastEvent: new Gauge({
        name: 'lpo_informer_last_event_timestamp_seconds',
        help: 'When the informer last received a watch event or bookmark',
        labelNames: ['resource'],
        registers: [registry],
      }),
    };
    restarts.set(registry, m);
  }
  return m;
}

export function objectKey(obj: Meta): string {
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${obj.metadata?.name}` : (obj.metadata?.name ?? '');
}

export class Informer<T extends Meta> {
  private readonly cache = new Map<string, T>();
  private readonly handlers: Handlers<T>[] = [];
  private resourceVersion = '';
  private abort: AbortController | undefined;
  private stopped = false;
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private consecutiveErrors = 0;
  private resyncTimer: NodeJS.Timeout | undefined;
  private relistTimer: NodeJS.Timeout | undefined;
  private readonly objects: k8s.KubernetesObjectApi;
  private readonly custom: k8s.CustomObjectsApi;
  private readonly watch: k8s.Watch;
  private readonly metrics: ReturnType<typeof metricsFor> | undefined;
  private readonly resource: string;

  private readonly opts: InformerOptions<T>;
  private readonly transform: (obj: T) => T;

  constructor(opts: InformerOptions<T>) {
    this.opts = opts;
    this.objects = k8s.KubernetesObjectApi.makeApiClient(opts.kc);
    this.custom = opts.kc.makeApiClient(k8s.CustomObjectsApi);
    this.watch = new k8s.Watch(opts.kc);
    this.metrics = opts.registry ? metricsFor(opts.registry) : undefined;
    this.resource = opts.kind;
    const transform = opts.transform ?? ((o: T) => o);
    // List items come without apiVersion and kind; cached objects carry them (deletes need them).
    this.transform = (o) => {
      const out = transform(o) as T & { apiVersion?: string; kind?: string };
      out.apiVersion ??= opts.apiVersion;
      out.kind ??= opts.kind;
      return out;
    };
  }

  on(handlers: Handlers<T>): void {
    this.handlers.push(handlers);
  }

  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  get size(): number {
    return this.cache.size;
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((r) => this.syncWaiters.push(r));
  }

  start(): void {
    void this.relistAndWatch();
    const resyncMs = this.opts.resyncMs ?? 5 * 60_000;
    // Every cached object once per resyncMs, a slice each second rather than all at once: a
    // thousand pairs resynced in one burst were a thousand reconciles queued in the same second.
    const resync = new SpreadCycle(this.cache, resyncMs, RESYNC_TICK_MS);
    this.resyncTimer = setInterval(() => {
      for (const obj of resync.next()) this.emit((h) => h.resync?.(obj));
    }, RESYNC_TICK_MS);
    const relistMs = this.opts.relistMs ?? 30 * 60_000;
    this.relistTimer = setInterval(() => this.restartWatch('periodic-relist', true), jitter(relistMs));
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.resyncTimer);
    clearInterval(this.relistTimer);
    this.abort?.abort();
  }

  private needsRelist = false;

  private restartWatch(cause: string, relist: boolean): void {
    this.metrics?.restarts.inc({ resource: this.resource, cause });
    if (relist) this.needsRelist = true;
    this.abort?.abort();
  }

  private async relistAndWatch(): Promise<void> {
    while (!this.stopped) {
      try {
        if (!this.resourceVersion || this.needsRelist) {
          this.needsRelist = false;
          await this.relist();
        }
        await this.watchOnce();
        this.consecutiveErrors = 0;
      } catch (err) {
        this.consecutiveErrors++;
        const code =
          (err as { code?: number; statusCode?: number }).code ?? (err as { statusCode?: number }).statusCode;
        if (code === 410) {
          this.needsRelist = true;
          this.metrics?.restarts.inc({ resource: this.resource, cause: 'gone' });
          continue;
        }
        this.metrics?.restarts.inc({ resource: this.resource, cause: 'error' });
        const delay = Math.min(30_000, 500 * 2 ** Math.min(this.consecutiveErrors - 1, 6));
        this.opts.log.warn(
          { resource: this.resource, err: errMessage(err), retryInMs: delay },
          'watch failed; retrying',
        );
        // After repeated failures the cache may have missed deletions: relist when back.
        if (this.consecutiveErrors >= 3) this.needsRelist = true;
        await sleep(jitter(delay));
      }
    }
  }

  private async relist(): Promise<void> {
    const seen = new Map<string, T>();
    let continueToken: string | undefined;
    let rv = '';
    do {
      const page = await this.listPage(continueToken);
      for (const item of page.items) seen.set(objectKey(item), this.transform(item));
      continueToken = page.continueToken;
      rv = page.resourceVersion ?? rv;
    } while (continueToken);
    for (const [key, old] of this.cache) {
      if (!seen.has(key)) {
        this.cache.delete(key);
        this.emit((h) => h.delete?.(old));
      }
    }
    for (const [key, obj] of seen) {
      const old = this.cache.get(key);
      this.cache.set(key, obj);
      if (!old) this.emit((h) => h.add?.(obj));
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion)
        this.emit((h) => h.update?.(old, obj));
    }
    this.resourceVersion = rv;
    this.metrics?.lastEvent.set({ resource: this.resource }, Date.now() / 1000);
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  /**
   * One page of the list. A resource of an API group is read as the API server wrote it
   * (CustomObjectsApi): for kinds it has no model of, client-node's KubernetesObjectApi.list reads
   * the list's metadata as an object's and drops its `continue`, and an operator restarted with
   * more than a page of pairs saw only the first page. Core resources have models (`_continue`).
   */
  private async listPage(
    continueToken: string | undefined,
  ): Promise<{ items: T[]; continueToken: string | undefined; resourceVersion: string | undefined }> {
    const { apiVersion, kind, namespace, labelSelector } = this.opts;
    const limit = this.opts.pageSize ?? 500;
    if (apiVersion.includes('/')) {
      const [group, version] = apiVersion.split('/') as [string, string];
      const plural = this.opts.path.split('/').at(-1)!;
      const q = {
        group,
        version,
        plural,
        limit,
        ...(labelSelector ? { labelSelector } : {}),
        ...(continueToken ? { _continue: continueToken } : {}),
      };
      const page = (await (namespace
        ? this.custom.listNamespacedCustomObject({ ...q, namespace })
        : this.custom.listClusterCustomObject(q))) as {
        items?: T[];
        metadata?: { continue?: string; resourceVersion?: string };
      };
      return {
        items: page.items ?? [],
        continueToken: page.metadata?.continue || undefined,
        resourceVersion: page.metadata?.resourceVersion,
      };
    }
    const page = await this.objects.list<T & k8s.KubernetesObject>(
      apiVersion,
      kind,
      namespace,
      undefined,
      undefined,
      undefined,
      undefined,
      labelSelector,
      limit,
      continueToken,
    );
    return {
      items: page.items as T[],
      continueToken: page.metadata?._continue || undefined,
      resourceVersion: page.metadata?.resourceVersion,
    };
  }

  private watchOnce(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const params: Record<string, string | number | boolean> = {
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: Math.round(jitter(300_000) / 1000),
      };
      if (this.opts.labelSelector) params.labelSelector = this.opts.labelSelector;
      let failure: unknown;
      this.watch
        .watch(
          this.opts.path,
          params,
          (type: string, received: T, raw?: { object?: { code?: number } }) => {
            this.metrics?.lastEvent.set({ resource: this.resource }, Date.now() / 1000);
            if (type === 'ERROR') {
              const code = (raw?.object ?? (received as { code?: number })).code;
              failure = Object.assign(new Error(`watch error ${code}`), { code });
              this.abort?.abort();
              return;
            }
            const rv = received.metadata?.resourceVersion;
            if (rv) this.resourceVersion = rv;
            if (type === 'BOOKMARK') return;
            const obj = this.transform(received);
            const key = objectKey(obj);
            const old = this.cache.get(key);
            if (type === 'DELETED') {
              this.cache.delete(key);
              this.emit((h) => h.delete?.(obj));
            } else {
              this.cache.set(key, obj);
              if (old) this.emit((h) => h.update?.(old, obj));
              else this.emit((h) => h.add?.(obj));
            }
          },
          (err: unknown) => {
            const isAbort =
              err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError');
            if (failure) reject(failure);
            else if (err && !isAbort) reject(err);
            else resolve();
          },
        )
        .then((controller) => {
          this.abort = controller;
        }, reject);
    });
  }

  private emit(fn: (h: Handlers<T>) => void): void {
    for (const h of this.handlers) {
      try {
        fn(h);
      } catch (err) {
        this.opts.log.error({ resource: this.resource, err: errMessage(err) }, 'informer handler threw');
      }
    }
  }
}

const RESYNC_TICK_MS = 1000;

/**
 * Walks a live Map in slices so that every entry comes up once per period: each tick returns the
 * next size·tick/period entries (fractions carried to the next tick), and a finished walk starts
 * over. Entries added meanwhile are reached in the same walk, removed ones are skipped.
 */
export class SpreadCycle<V> {
  private readonly map: Map<string, V>;
  private readonly periodMs: number;
  private readonly tickMs: number;
  private walk: Iterator<V> | undefined;
  private owed = 0;

  constructor(map: Map<string, V>, periodMs: number, tickMs: number) {
    this.map = map;
    this.periodMs = periodMs;
    this.tickMs = tickMs;
  }

  next(): V[] {
    // Counted in entry·ms, so fractions carry over exactly: a period of ticks hands out the whole
    // map (a small map: one entry every few ticks).
    this.owed += this.map.size * this.tickMs;
    const out: V[] = [];
    while (this.owed >= this.periodMs) {
      if (this.map.size === 0) {
        this.owed = 0;
        break;
      }
      this.walk ??= this.map.values();
      const r = this.walk.next();
      if (r.done) {
        this.walk = undefined;
        continue;
      }
      out.push(r.value);
      this.owed -= this.periodMs;
    }
    return out;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** ±10% so many replicas or informers do not relist in lockstep. */
function jitter(ms: number): number {
  return ms * (0.9 + Math.random() * 0.2);
}

export function errMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
