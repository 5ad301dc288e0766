// The Warning Event of a data-loss promotion request that waits (row 2b of the decision): once per
// request and cause, not at every reconcile of the wait. Refusals and the promotion itself are
// Events of the status and of the move (pair-events.ts).
import { ANNOTATION_PROMOTE_ACCEPTING_DATA_LOSS } from '../api/pair.ts';
import type { Decision } from './decision.ts';
import type { PairEvent } from './pair-events.ts';

export class PendingDataLossEvents {
  /** per pair: the request and cause last announced */
  private readonly announced = new Map<string, string>();

  of(pairKey: string, d: Decision): PairEvent[] {
    const v = d.dataLoss?.verdict;
    if (v?.kind !== 'wait') {
      this.announced.delete(pairKey);
      return [];
    }
    const what = `${d.dataLoss!.request}\n${v.cause}`;
    if (this.announced.get(pairKey) === what) return [];
    this.announced.set(pairKey, what);
    return [
      {
        type: 'Warning',
        reason: 'DataLossPromotionPending',
        message: `${ANNOTATION_PROMOTE_ACCEPTING_DATA_LOSS}=${d.dataLoss!.request} not carried out yet (${v.cause}): ${v.message}`,
      },
    ];
  }

  forget(pairKey: string): void {
    this.announced.delete(pairKey);
  }
}
