// The standby's view of its active, as a push to the operator: a status read that is answered as
// soon as the standby has heard nothing from the active for `peerSilentMs` (at once when that is
// already so), or after `waitMs`. The operator holds one such read per pair on the standby, so a
// hung or dead active is known to it within the silence, not at its next health check
// (docs/reliability.md, "Detection").

import { afterPendingIo } from './after-pending-io.ts';

/** What the wait reads of the member, every poll. */
export interface SilenceSource {
  role(): string;
  peerLastSeenSeconds(): number | null;
}

/** A peer heard from longer ago than this is not "just went silent" (it was gone before). */
export const PEER_RECENT_SECONDS = 60;

/** The standby has not heard from its active for `silentMs`, having heard from it recently. */
export function peerSilent(src: SilenceSource, silentMs: number): boolean {
  if (src.role() !== 'standby') return false;
  const seen = src.peerLastSeenSeconds();
  return seen !== null && seen * 1000 >= silentMs && seen <= PEER_RECENT_SECONDS;
}

/**
 * Resolves when the peer is silent, after `waitMs`, or when `closed` fires (the operator gave up
 * the request). Polls: the silence is the absence of events, there is nothing to wait on.
 */
export function waitForPeerSilence(
  src: SilenceSource,
  silentMs: number,
  waitMs: number,
  closed: { once(event: 'close', f: () => void): unknown },
): Promise<void> {
  if (peerSilent(src, silentMs) || waitMs === 0) return Promise.resolve();
  const every = Math.max(20, Math.min(100, Math.floor(silentMs / 5)));
  return new Promise((resolve) => {
    const done = () => {
      clearInterval(poll);
      clearTimeout(limit);
      resolve();
    };
    const poll = setInterval(() => {
      // The active's heartbeats may be waiting unread after our own stall.
      if (peerSilent(src, silentMs))
        afterPendingIo(() => {
          if (peerSilent(src, silentMs)) done();
        });
    }, every);
    const limit = setTimeout(done, waitMs);
    closed.once('close', done);
  });
}
