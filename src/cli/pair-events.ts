// The core/v1 Events about a pair, as `pair status` shows them.
import type * as k8s from '@kubernetes/client-node';
import { age } from './durations.ts';
import type { PairEvent } from './pair-object.ts';
import { indentedTable } from './table.ts';

function isoTime(t: Date | string | undefined | null): string | undefined {
  if (!t) return undefined;
  return t instanceof Date ? t.toISOString() : t;
}

/** Reduce a core/v1 Event (dates as Date objects or strings) to what the summary shows. */
export function toPairEvent(e: k8s.CoreV1Event): PairEvent {
  return {
    type: e.type ?? '',
    reason: e.reason ?? '',
    message: (e.message ?? '').replace(/\s+/g, ' ').trim(),
    count: e.series?.count ?? e.count ?? 1,
    time: isoTime(
      e.series?.lastObservedTime ??
        e.lastTimestamp ??
        e.eventTime ??
        e.firstTimestamp ??
        e.metadata.creationTimestamp,
    ),
  };
}

/** The most recent `limit` events, oldest first (as kubectl describe shows them). */
export function recentEvents(events: PairEvent[], limit = 10): PairEvent[] {
  const t = (e: PairEvent): number => (e.time ? Date.parse(e.time) : 0);
  return [...events].sort((a, b) => t(a) - t(b)).slice(-limit);
}

/** The events as the lines of an indented table (like kubectl describe). */
export function eventsTable(events: PairEvent[], now: number): string[] {
  return indentedTable(
    ['TYPE', 'REASON', 'AGE', 'COUNT', 'MESSAGE'],
    events.map((e) => [e.type, e.reason, age(e.time, now), String(e.count), e.message]),
  );
}
