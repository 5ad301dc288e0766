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
  ): Promise<boolean> {
    const hash = createHash('sha256').update(JSON.stringify(desired)).digest('hex').slice(0, 16);
    if (live?.metadata?.annotations?.[APPLIED_HASH_ANNOTATION] === hash) return false;
    const body = structuredClone(desired);
    body.metadata = {
      ...body.metadata,
      annotations: { ...(body.metadata?.annotations ?? {}), [APPLIED_HASH_ANNOTATION]: hash },
    };
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

  async readSecret(namespace: string, name: string): Promise<k8s.V1Secret | undefined> {
    try {
      return await this.core.readNamespacedSecret({ namespace, name });
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
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
