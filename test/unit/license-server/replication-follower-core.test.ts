// The standby's replication rules with explicit times: the next request, what answers, refusals
// and the stream's text mean, the acknowledgement, the watchdog and the back-off. No sockets.
import { describe, expect, it } from 'vitest';
import type { LogEntry } from '../../../src/license-server/ledger.ts';
import { PeerError } from '../../../src/license-server/peer-client.ts';
import type { EntriesResponse, StreamHeartbeat } from '../../../src/license-server/protocol.ts';
import { FollowerCore } from '../../../src/license-server/replication-follower-core.ts';

const entry = (seq: number): LogEntry => ({
  seq,
  epoch: 1,
  op: { type: 'renew', id: `1-${seq}`, ttlMs: 1000 },
});
const hb = (lastSeq: number, n: number, wall = 0): StreamHeartbeat => ({
  hb: 1,
  role: 'active',
  epoch: 1,
  lastSeq,
  wall,
  advertiseUrl: null,
  n,
});
const line = (o: unknown): string => `${JSON.stringify(o)}\n`;
const core = (): FollowerCore => new FollowerCore({ waitMs: 1000, retryMs: 250, requestTimeoutMs: 5000 });
const pos = (seq: number) => ({ seq, epoch: 1 });

describe('replication follower core: the next request', () => {
  it('streams; resyncs from a snapshot when the active asks; long-polls a peer without the stream', () => {
    const c = core();
    expect(c.next()).toBe('stream');
    expect(c.refused(0, 'stream', new PeerError(409, 'SNAPSHOT_REQUIRED', 'fork'))).toBe('resync');
    expect(c.next()).toBe('snapshot');
    expect(c.refused(0, 'snapshot', new PeerError(409, 'SNAPSHOT_REQUIRED', 'odd'))).toBe('fail');
    expect(c.next()).toBe('snapshot');
    c.snapshotLoaded(10, 40);
    expect(c.knownActiveSeq).toBe(40);
    expect(c.next()).toBe('stream');
    expect(c.refused(20, 'stream', new PeerError(426, 'BAD_REQUEST', 'no upgrade'))).toBe('long-poll');
    expect(c.next()).toBe('poll');
    expect(c.refused(30, 'poll', new PeerError(404, 'NOT_FOUND', 'gone'))).toBe('fail');
    expect(c.next()).toBe('poll');
    expect(c.refused(30, 'poll', new PeerError(409, 'SNAPSHOT_REQUIRED', 'fork'))).toBe('resync');
    expect(c.next()).toBe('snapshot');
  });

  it('names its position, member and epoch; the long-poll names the last answer, a new stream none', () => {
    const c = core();
    expect(c.pollPath(pos(3), 'red one', 2)).toBe(
      '/v1/replication/entries?after=3&afterEpoch=1&wait=1000&member=red%20one&epoch=2',
    );
    const res: EntriesResponse = { ...hb(3, 7), entries: [] };
    c.polled(0, 0, res);
    expect(c.pollPath(pos(3), 'r', 2)).toMatch(/&hb=7$/);
    expect(c.pollTimeoutMs).toBe(6000);
    expect(c.streamPath(pos(3), 'r', 2)).toBe('/v1/replication/stream?after=3&afterEpoch=1&member=r&epoch=2');
    expect(c.ackLine(3, 2)).toBe('{"ack":3,"epoch":2,"hb":0}\n');
  });
});

describe('replication follower core: the stream', () => {
  it('takes complete lines only, across chunks', () => {
    const c = core();
    c.streamOpened(0);
    const text = line(hb(0, 1)) + line(entry(1));
    expect(c.streamText(1, text.slice(0, 10))).toBeUndefined();
    expect(c.streamText(2, text.slice(10, -3))).toBe(line(hb(0, 1)).slice(0, -1));
    expect(c.streamText(3, text.slice(-3))).toBe(line(entry(1)).slice(0, -1));
  });

  it('reads entries with their texts and the heartbeat; acknowledges the last heartbeat had', () => {
    const c = core();
    c.next();
    c.streamOpened(0);
    const text = line(hb(2, 5, 1_500)) + line(entry(1)) + line(entry(2));
    const got = c.streamLines(10, 1_000, text.slice(0, -1));
    expect(got.entries).toEqual([entry(1), entry(2)]);
    expect(got.jsons).toEqual([JSON.stringify(entry(1)), JSON.stringify(entry(2))]);
    expect(got.heartbeat?.n).toBe(5);
    expect(c.skewSeconds).toBe(0.5);
    expect(c.ackLine(2, 1)).toBe('{"ack":2,"epoch":1,"hb":5}\n');
    expect(() => c.streamLines(11, 0, 'not json')).toThrow();
  });

  it("the first heartbeat of a stream sets the active's position, later ones only raise it", () => {
    const c = core();
    c.next();
    c.streamOpened(0);
    c.streamLines(0, 0, line(hb(9, 1)));
    expect(c.knownActiveSeq).toBe(9);
    c.streamLines(1, 0, line(hb(4, 2)));
    expect(c.knownActiveSeq).toBe(9);
    c.applied(1, 12, 12);
    expect(c.knownActiveSeq).toBe(12);
    c.streamOpened(2); // the active's history was rolled back (a new active)
    c.streamLines(2, 0, line(hb(4, 1)));
    expect(c.knownActiveSeq).toBe(4);
  });

  it('is in sync once caught up; lag counts from when it last was; disconnected after the wait and 3 s', () => {
    const c = core();
    expect(c.state(0, 0)).toBe('disconnected');
    c.next();
    c.streamOpened(0);
    c.streamLines(100, 0, line(hb(2, 1)));
    c.applied(100, undefined, 0);
    expect(c.state(100, 0)).toBe('catching-up');
    expect(c.lag(1_100, 0)).toEqual({ entries: 2, seconds: 0 }); // never caught up yet
    c.streamLines(200, 0, line(entry(1)) + line(entry(2)));
    c.applied(200, 2, 2);
    expect(c.state(200, 2)).toBe('in-sync');
    c.streamLines(300, 0, line(hb(5, 2)));
    c.applied(300, undefined, 2);
    expect(c.lag(1_300, 2)).toEqual({ entries: 3, seconds: 1.1 });
    expect(c.state(4_300, 2)).toBe('catching-up');
    expect(c.state(4_301, 2)).toBe('disconnected');
    expect(c.peerLastSeenSeconds(4_300)).toBe(4);
    c.stopped();
    expect(c.state(300, 2)).toBe('disconnected');
  });

  it('entries that do not apply make the next step a resync', () => {
    const c = core();
    c.next();
    c.applyFailed();
    expect(c.state(0, 0)).toBe('disconnected');
    expect(c.next()).toBe('snapshot');
  });

  it('a stream is dead after the long-poll wait and the request timeout without a line', () => {
    const c = core();
    c.streamOpened(1_000);
    expect(c.streamSilent(7_000)).toBe(false);
    expect(c.streamSilent(7_001)).toBe(true);
    c.streamText(7_000, '{"partial":');
    expect(c.streamSilent(13_000)).toBe(false);
    expect(c.streamSilentMs).toBe(6000);
  });

  it('a peer that is up but not active is heard from, and followed by nobody', () => {
    const c = core();
    c.next();
    c.streamLines(0, 0, line(hb(0, 1)));
    expect(c.state(0, 0)).toBe('in-sync');
    expect(c.refused(500, 'stream', new PeerError(503, 'NOT_ACTIVE', 'standby'))).toBe('fail');
    expect(c.state(500, 0)).toBe('disconnected');
    expect(c.peerLastSeenSeconds(1_500)).toBe(1);
  });
});

describe('replication follower core: long-polls and failures', () => {
  it("a long-poll's answer sets the active's position and the clock skew", () => {
    const c = core();
    c.next();
    c.refused(0, 'stream', new PeerError(404, 'NOT_FOUND', 'old'));
    c.polled(100, 2_000, { ...hb(3, 1, 1_000), entries: [entry(1)] });
    expect(c.skewSeconds).toBe(-1);
    c.pollApplied(100, 3, 1);
    expect(c.knownActiveSeq).toBe(3);
    expect(c.state(100, 1)).toBe('catching-up');
    c.pollApplied(200, 1, 1); // a new active with a shorter log
    expect(c.knownActiveSeq).toBe(1);
    expect(c.state(200, 1)).toBe('in-sync');
  });

  it('backs off 250, 500, 1000, 2000 ms (spread by the jitter) and logs a failure once while it repeats', () => {
    const c = core();
    const down = new Error('connect ECONNREFUSED');
    const delays = [1, 2, 3, 4, 5].map(() => c.failed(down, 1).delayMs);
    expect(delays).toEqual([250, 500, 1000, 2000, 2000]);
    expect(c.failed(down, 0)).toEqual({ delayMs: 1000, warn: undefined });
    c.succeeded();
    expect(c.failed(new Error('reset'), 0.5)).toEqual({ delayMs: 187.5, warn: 'reset' });
  });

  it('asks again soon a peer that is not active yet (it is about to be promoted)', () => {
    const c = core();
    for (let i = 0; i < 4; i++) c.failed(new Error('down'), 1);
    const r = c.failed(new PeerError(503, 'NOT_ACTIVE', 'standby'), 1);
    expect(r).toEqual({ delayMs: 250, warn: 'NOT_ACTIVE: standby' });
  });

  it('a failure after an answer is logged again', () => {
    const c = core();
    expect(c.failed(new Error('down'), 1).warn).toBe('down');
    c.polled(0, 0, { ...hb(0, 1), entries: [] });
    expect(c.failed(new Error('down'), 1).warn).toBe('down');
  });
});
