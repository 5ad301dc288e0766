// The status read the prober holds open on each pair's standby (detection.ts), so that a hung or
// dead live member is checked as soon as its standby stops hearing it rather than at its next
// period.
import { otherMember, type Member } from '../api/pair.ts';
import {
  confirmTimeoutMs,
  earlySilentMs,
  nextSilenceAsk,
  peerPromiseMsFor,
  SILENCE_WAIT_MS,
} from './detection.ts';
import { readStatusOnPeerSilence } from './member-client.ts';
import type { ServerReport } from './observation.ts';
import {
  answered,
  authOf,
  reportNews,
  type MemberProbeState,
  type ProbeSignal,
  type ProbeTarget,
} from './probe-check.ts';

/** What the held read keeps of the prober's entry for one member. */
export interface WatchedEntry {
  target: ProbeTarget;
  state: MemberProbeState;
  /** a status read held open on this standby until it loses its active (watchStandbys) */
  watching?: boolean;
  /** no such read before then (ms) */
  watchAfter?: number;
  /** the silence to ask for in the next read (detection.ts: nextSilenceAsk) */
  silenceAsk?: number;
}

export interface WatchContext {
  entries(): Iterable<WatchedEntry>;
  /** the prober's current entry for the member (a new pod replaces it) */
  entry(pairKey: string, member: Member): WatchedEntry | undefined;
  now(): number;
  /** the prober runs: an answer that comes after it stopped is dropped */
  running(): boolean;
  /** check the member at once, with `timeoutMs` */
  confirm(pairKey: string, member: Member, timeoutMs: number): void;
  onChange(pairKey: string, signal: ProbeSignal): void;
}

/**
 * One status read held open on each pair's standby, answered as soon as it stops hearing its
 * active (detection.ts): the live member is then checked at once, with the rest of the
 * timeout, instead of at its next period.
 */
export function watchStandbys(ctx: WatchContext, now: number): void {
  for (const e of ctx.entries()) {
    const t = e.target;
    if (e.watching || (e.watchAfter ?? -Infinity) > now || !t.statusUrl) continue;
    // Only a standby that has been following its active, in sync and hearing it: one just
    // connected (after a promotion) or catching up has gaps that are not a fault, and the
    // confirming check would read the new active in the moment its standby catches up.
    // Asked again for the decision's silence after the early one: it no longer hears it.
    const r = e.state.server;
    const early = earlySilentMs(peerPromiseMsFor(t.timeoutMs));
    const midway = (e.silenceAsk ?? early) > early;
    if (r?.role !== 'standby' || (!midway && !followsItsActive(r, early))) continue;
    if (ctx.entry(t.pairKey, otherMember(t.member))?.state.server?.role !== 'active') continue;
    e.watching = true;
    void watch(ctx, e, now, e.silenceAsk ?? early).finally(() => (e.watching = false));
  }
}

async function watch(ctx: WatchContext, e: WatchedEntry, sentAt: number, silentMs: number): Promise<void> {
  const t = e.target;
  // both members of a pair share the health check, so the standby's target gives the pair's P
  const promiseMs = peerPromiseMsFor(t.timeoutMs);
  const status = await readStatusOnPeerSilence(
    t.statusUrl!,
    authOf(t),
    silentMs,
    SILENCE_WAIT_MS,
    t.timeoutMs,
  );
  if (ctx.entry(t.pairKey, t.member) !== e || !ctx.running()) return;
  const now = ctx.now();
  const silent = status?.role === 'standby' && (status.peerLastSeenSeconds ?? -1) * 1000 >= silentMs;
  const next = silent ? nextSilenceAsk(silentMs, promiseMs) : earlySilentMs(promiseMs);
  if (next !== undefined) e.silenceAsk = next;
  else delete e.silenceAsk;
  // Asked again at once only to hear the decision's silence; otherwise a period later: the
  // standby stays silent until the pair moves, and a member that answered without waiting (an
  // error, a server that does not know the wait) must not be asked in a loop.
  const waited = status !== undefined && now - sentAt >= SILENCE_WAIT_MS / 2;
  if (!(silent && next !== undefined) && !(waited && !silent))
    e.watchAfter = now + Math.max(t.periodMs, 1000);
  if (!status) return;
  const before = e.state.server;
  e.state = { ...e.state, ...answered(e.state, status, sentAt, ctx.now()) };
  // The answer may be the news a check would have signalled (the standby in sync again after a
  // switchover): the check that follows finds nothing changed, so it is signalled here, or the
  // pair waits for its next periodic reconcile with a stale condition.
  if (!silent) {
    if (reportNews(before, e.state.server)) ctx.onChange(t.pairKey, 'changed');
    return;
  }
  const live = otherMember(t.member);
  if (silentMs === earlySilentMs(promiseMs)) ctx.confirm(t.pairKey, live, confirmTimeoutMs(t.timeoutMs));
  // The decision reads the new report with the live member's failed check (assess.ts: PeerLost);
  // without one there is nothing to decide (the standby may be the one cut off).
  else if ((ctx.entry(t.pairKey, live)?.state.history.consecutiveFailures ?? 0) > 0)
    ctx.onChange(t.pairKey, 'failure');
}

/** In sync and hearing the active, in its last report (detection.ts). */
function followsItsActive(r: ServerReport, earlyMs: number): boolean {
  return r.replication === 'in-sync' && (r.peerLastSeenSeconds ?? Infinity) * 1000 < earlyMs;
}
