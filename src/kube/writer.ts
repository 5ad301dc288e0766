import * as k8s from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import type { Counter } from 'prom-client';

/**
 * Every write the operator makes goes through here: server-side apply with one named field
 * manager, precise patches of the status subresource, create and delete. A write is refused unless
 * this replica leads (a deposed leader never writes), and each is counted, so "no writes while
 * nothing changes" can be measured.
 */
export const APPLIED_HASH_ANNOTATION = 'lpo.dev/applied-hash';

export class NotLeaderError extends Error {
  constructor() {
    super('not the leader: refusing to write');
  }
}

export interface WriterOptions {
  kc: k8s.KubeConfig;
  fieldManager: string;
  isLeader: () => boolean;
  writes?: Counter;
}

export class KubeWriter {
  private readonly objects: k8s.KubernetesObjectApi;
  private readonly custom: k8s.CustomObjectsApi;
  private readonly core: k8s.CoreV1Api;
  private readonly opts: WriterOptions;

  constructor(opts: WriterOptions) {
    this.opts = opts;
    this.objects = k8s.KubernetesObjectApi.makeApiClient(opts.kc);
    this.custom = opts.kc.makeApiClient(k8s.CustomObjectsApi);
    this.core = opts.kc.makeApiClient(k8s.CoreV1Api);
  }

  private guard(verb: string, resource: string): void {
    if (!this.opts.isLeader()) throw new NotLeaderError();
    this.opts.writes?.inc({ verb, resource });
  }

  /**
   * Server-side apply, skipped when the live object already carries the hash of this desired state
   * (so a steady state costs no writes). `live` is the cached object, if any.
   */
  async applyIfChanged<T extends k8s.KubernetesObject>(
    desired: T,
    live: k8s.KubernetesObject | undefined,
    opts: { createWithPost?: boolean } = {},
  ): Promise<boolean> {
    const hash = createHash('sha256').update(JSON.stringify(desired)).digest('hex').slice(0, 16);
    if (live?.metadata?.annotations?.[APPLIED_HASH_ANNOTATION] === hash) return false;
    const body = structuredClone(desired);
    body.metadata = {
      ...body.metadata,
      annotations: { ...(body.metadata?.annotations ?? {}), [APPLIED_HASH_ANNOTATION]: hash },
    };
    // An apply that creates costs the API server about three times a plain create (it merges into
    // an empty object with the type's schema). A create leaves the fields owned by an update of
    // this field manager, so a later apply cannot remove one: only for objects whose desired
    // state never drops a field (the caller's promise), and only when the cache has none.
    if (opts.createWithPost && !live && (await this.createIfAbsent(body))) return true;
    this.guard('apply', desired.kind ?? 'unknown');
    await this.objects.patch(
      body,
      undefined,
      undefined,
      this.opts.fieldManager,
      true,
      k8s.PatchStrategy.ServerSideApply,
    );
    return true;
  }

  /**
   * applyIfChanged, for an object whose desired state may change a field that cannot change once
   * set (a Service's clusterIP): when the API server refuses the apply for that reason, the live
   * object (`live`, by its uid) is deleted and the desired one created in its place.
   */
  async applyReplacingImmutable<T extends k8s.KubernetesObject>(
    desired: T,
    live: k8s.KubernetesObject | undefined,
    opts: { createWithPost?: boolean } = {},
  ): Promise<boolean> {
    try {
      return await this.applyIfChanged(desired, live, opts);
    } catch (err) {
      if (!live?.metadata?.uid || !isImmutableFieldError(err)) throw err;
      await this.delete(live, { uid: live.metadata.uid });
      return this.applyIfChanged(desired, undefined, opts);
    }
  }

  async create<T extends k8s.KubernetesObject>(obj: T): Promise<T> {
    this.guard('create', obj.kind ?? 'unknown');
    return this.objects.create(obj, undefined, undefined, this.opts.fieldManager);
  }

  /** Creates `obj` unless it exists (409): true when this call created it. */
  async createIfAbsent<T extends k8s.KubernetesObject>(obj: T): Promise<boolean> {
    try {
      await this.create(obj);
      return true;
    } catch (err) {
      if ((err as { code?: number }).code === 409) return false;
      throw err;
    }
  }

  async delete(
    obj: k8s.KubernetesObject,
    opts: { uid?: string; gracePeriodSeconds?: number } = {},
  ): Promise<void> {
    this.guard('delete', obj.kind ?? 'unknown');
    try {
      await this.objects.delete(
        obj,
        undefined,
        undefined,
        opts.gracePeriodSeconds,
        undefined,
        'Background',
        opts.uid ? { preconditions: { uid: opts.uid } } : undefined,
      );
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
    }
  }

  async patchStatus(
    group: string,
    version: string,
    plural: string,
    namespace: string,
    name: string,
    status: unknown,
  ): Promise<void> {
    this.guard('patch', `${plural}/status`);
    await this.custom.patchNamespacedCustomObjectStatus(
      { group, version, plural, namespace, name, body: { status } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
  }

  readSecret(namespace: string, name: string): Promise<k8s.V1Secret | undefined> {
    return absentAsUndefined(this.core.readNamespacedSecret({ namespace, name }));
  }

  readConfigMap(namespace: string, name: string): Promise<k8s.V1ConfigMap | undefined> {
    return absentAsUndefined(this.core.readNamespacedConfigMap({ namespace, name }));
  }

  /** Replaces a Secret at the resourceVersion it carries: false when it changed since (409). */
  async replaceSecret(secret: k8s.V1Secret): Promise<boolean> {
    this.guard('update', 'Secret');
    try {
      await this.core.replaceNamespacedSecret({
        namespace: secret.metadata!.namespace!,
        name: secret.metadata!.name!,
        body: secret,
      });
      return true;
    } catch (err) {
      if ((err as { code?: number }).code === 409) return false;
      throw err;
    }
  }

  async createEvent(namespace: string, event: k8s.CoreV1Event): Promise<void> {
    this.guard('create', 'Event');
    await this.core.createNamespacedEvent({ namespace, body: event });
  }

  async patchEvent(namespace: string, name: string, patch: object): Promise<void> {
    this.guard('patch', 'Event');
    await this.core.patchNamespacedEvent(
      { namespace, name, body: patch },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
  }
}

/** A 422 from the API server because the write changes a field that is immutable once set. */
function isImmutableFieldError(err: unknown): boolean {
  const e = err as { code?: number; body?: unknown; message?: string };
  if (e.code !== 422) return false;
  const text = `${typeof e.body === 'string' ? e.body : JSON.stringify(e.body ?? '')} ${e.message ?? ''}`;
  return /may not change once set|field is immutable/.test(text);
}

/** A read by name: undefined when the object does not exist (404), any other error thrown. */
async function absentAsUndefined<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}
