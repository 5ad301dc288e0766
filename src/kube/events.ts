import type * as k8s from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { KubeWriter } from './writer.ts';

/**
 * Events for `kubectl describe`, aggregated like client-go's recorder: the same reason and message
 * for the same object within ten minutes bumps the count of one Event instead of creating another.
 * Event writes never fail a reconcile.
 */
interface Seen {
  name: string;
  count: number;
  first: Date;
  at: number;
}

export class EventRecorder {
  private readonly seen = new Map<string, Seen>();
  private readonly writer: KubeWriter;
  private readonly component: string;
  private readonly log: Logger;

  constructor(writer: KubeWriter, component: string, log: Logger) {
    this.writer = writer;
    this.component = component;
    this.log = log;
  }

  /** Sends in flight, by Event key: a repeat waits for the create it counts on. */
  private readonly sending = new Map<string, Promise<void>>();

  /**
   * Records an Event in the background, as client-go's recorder does: a reconcile never waits for
   * its Events (at a thousand new pairs they would double its round trips).
   */
  record(obj: k8s.KubernetesObject, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const key = `${obj.metadata?.uid}|${reason}|${message}`;
    const sent = (this.sending.get(key) ?? Promise.resolve()).then(() =>
      this.send(key, obj, type, reason, message),
    );
    this.sending.set(key, sent);
    void sent.then(() => {
      if (this.sending.get(key) === sent) this.sending.delete(key);
    });
  }

  private async send(
    key: string,
    obj: k8s.KubernetesObject,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    const ns = obj.metadata?.namespace ?? 'default';
    const now = new Date();
    const prev = this.seen.get(key);
    try {
      if (prev && Date.now() - prev.at < 10 * 60_000) {
        prev.count++;
        prev.at = Date.now();
        await this.writer.patchEvent(ns, prev.name, { count: prev.count, lastTimestamp: now.toISOString() });
        return;
      }
      const name = `${obj.metadata?.name}.${randomBytes(8).toString('hex')}`;
      await this.writer.createEvent(ns, {
        metadata: { name, namespace: ns },
        involvedObject: {
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          name: obj.metadata?.name,
          namespace: ns,
          uid: obj.metadata?.uid,
          resourceVersion: obj.metadata?.resourceVersion,
        },
        type,
        reason,
        message,
        count: 1,
        firstTimestamp: now,
        lastTimestamp: now,
        source: { component: this.component },
        reportingComponent: this.component,
      });
      this.seen.set(key, { name, count: 1, first: now, at: Date.now() });
      if (this.seen.size > 10_000) this.prune();
    } catch (err) {
      this.log.warn({ reason, err: String(err) }, 'could not record an Event');
    }
  }

  private prune(): void {
    const cutoff = Date.now() - 10 * 60_000;
    for (const [k, v] of this.seen) if (v.at < cutoff) this.seen.delete(k);
  }
}
