import type { Logger } from 'pino';
import { errMessage } from '../kube/informer.ts';
import type { WorkQueue } from '../kube/workqueue.ts';
import { NotLeaderError } from '../kube/writer.ts';
import { CONTROLLER, type Metrics } from './metrics.ts';
import type { ReconcileResult } from './reconciler.ts';

export interface ReconcileWorkerDeps {
  queue: WorkQueue;
  reconcile: (key: string) => Promise<ReconcileResult>;
  metrics: Metrics;
  log: Logger;
  /** Checked before each key: false once the controller stopped or was deposed. */
  running: () => boolean;
  deposed: () => void;
}

/** One of the pool's workers: reconciles one pair at a time, retrying a failure with backoff. */
export async function reconcileWorker(d: ReconcileWorkerDeps): Promise<void> {
  const { queue, metrics, log } = d;
  while (d.running()) {
    const key = await queue.get();
    if (key === undefined) return;
    metrics.activeWorkers.inc({ controller: CONTROLLER });
    const end = metrics.reconcileTime.startTimer({ controller: CONTROLLER });
    try {
      const r = await d.reconcile(key);
      queue.forget(key);
      if (r.requeueAfterMs !== undefined) {
        queue.addAfter(key, r.requeueAfterMs);
        metrics.reconcileTotal.inc({ controller: CONTROLLER, result: 'requeue_after' });
      } else {
        metrics.reconcileTotal.inc({ controller: CONTROLLER, result: 'success' });
      }
    } catch (err) {
      if (err instanceof NotLeaderError) {
        // Deposed: stop working; main exits and a restarted replica campaigns again.
        d.deposed();
        continue;
      }
      metrics.reconcileTotal.inc({ controller: CONTROLLER, result: 'error' });
      metrics.reconcileErrors.inc({ controller: CONTROLLER });
      log.warn(
        { pair: key, err: errMessage(err), retries: queue.numRequeues(key) },
        'reconcile failed; retrying with backoff',
      );
      queue.addRateLimited(key);
    } finally {
      end();
      queue.done(key);
      metrics.activeWorkers.dec({ controller: CONTROLLER });
      queue.observeInFlight();
    }
  }
}
