// The active's replication rules with explicit times: every event is given its `now`, and what
// the source would write, answer and report is read from `ready()`. No timers, no sockets.
import { describe, expect, it } from 'vitest';
import type { LogEntry } from '../../../src/license-server/ledger.ts';
import { SourceCore } from '../../../src/license-server/replication-source-core.ts';
import type { SourceCoreOptions, SourceOutput } from '../../../src/license-server/replication-source-core.ts';

const entry = (seq: number, epoch = 1): LogEntry => ({
  seq,
  epoch,
  op: { type: 'renew', id: `1-${seq}`, ttlMs: 1000 },
});
const json = (seq: number, epoch = 1): string => JSON.stringify(entry(seq, epoch));
const lines = (...seqs: number[]): string => seqs.map((s) => `${json(s)}\n`).join('');

function core(opts: Partial<SourceCoreOptions> = {}): SourceCore {
  const c = new SourceCore({ mode: 'sync', heartbeatMs: 1000, ...opts });
  c.reset(0, 1);
  return c;
}

/** Take the outputs, reporting every write as taken (or as `accepted` says). */
function take(c: SourceCore, accepted = true): SourceOutput[] {
  const all: SourceOutput[] = [];
  for (let out = c.ready().out; out.length > 0; out = c.ready().out)
    for (const o of out) {
      all.push(o);
      if (o.kind === 'heartbeat' || o.kind === 'entries') c.written(o.stream, accepted);
    }
  return all;
}

/** A stream opened at `now` whose first heartbeat and ack are taken. */
function open(c: SourceCore, now: number, after = 0, epoch = 1): number {
  const id = c.subscribe(now, after, epoch);
  if (id === 'snapshot') throw new Error('snapshot');
  take(c);
  return id;
}

describe('replication source core: streams', () => {
  it('a new stream is acknowledged at its position and gets a numbered heartbeat at once', () => {
    const c = core();
    c.append(10, [entry(1), entry(2)]);
    const id = c.subscribe(50, 1, 1);
    if (id === 'snapshot') throw new Error('snapshot');
    expect(take(c)).toEqual([
      { kind: 'acked', seq: 1, anchorAt: 10 },
      { kind: 'heartbeat', stream: id, mark: 1 },
      { kind: 'entries', stream: id, text: lines(2) },
    ]);
    expect(c.ready().wakeAt).toBe(1050);
  });

  it('entries appended in one turn go out in one write, once flushed', () => {
    const c = core();
    const id = open(c, 0);
    c.append(100, [entry(1)]);
    c.append(100, [entry(2)]);
    const r = c.ready();
    expect(r).toMatchObject({ out: [], flush: true });
    c.append(101, [entry(3)]);
    expect(c.ready().flush).toBe(false); // asked once per turn
    c.flush(101);
    expect(take(c)).toEqual([{ kind: 'entries', stream: id, text: lines(1, 2, 3) }]);
    c.append(200, [entry(4)]);
    expect(c.ready().flush).toBe(true);
  });

  it('writes in batches, one at a time, and stops while the transport is full until it drains', () => {
    const c = core({ batchSize: 2 });
    const id = open(c, 0);
    c.append(1, [entry(1), entry(2), entry(3), entry(4), entry(5)]);
    c.flush(1);
    expect(c.ready().out).toEqual([{ kind: 'entries', stream: id, text: lines(1, 2) }]);
    expect(c.ready().out).toEqual([]); // nothing more until the write is reported
    c.written(id, false);
    expect(c.ready().out).toEqual([]);
    c.drained(id);
    expect(take(c)).toEqual([
      { kind: 'entries', stream: id, text: lines(3, 4) },
      { kind: 'entries', stream: id, text: lines(5) },
    ]);
  });

  it('ends a stream that fell out of the window while it was full; the standby must resync', () => {
    const c = core({ windowSize: 10, batchSize: 2 });
    const id = open(c, 0);
    c.append(1, [entry(1)]);
    c.flush(1);
    take(c, false);
    for (let s = 2; s <= 12; s++) c.append(2, [entry(s)]);
    c.flush(2);
    expect(take(c)).toEqual([]);
    c.drained(id);
    expect(take(c)).toEqual([{ kind: 'end', stream: id }]);
    expect(c.subscribe(3, 1, 1)).toBe('snapshot');
    expect(c.subscribe(3, 12, 2)).toBe('snapshot');
  });

  it('sends a heartbeat every period, none while the transport is full', () => {
    const c = core({ heartbeatMs: 100 });
    const id = open(c, 0);
    c.tick(99);
    expect(c.ready().out).toEqual([]);
    c.tick(100);
    expect(c.ready()).toMatchObject({ out: [{ kind: 'heartbeat', stream: id, mark: 2 }], wakeAt: 200 });
    c.written(id, false);
    c.tick(200);
    expect(c.ready()).toMatchObject({ out: [], wakeAt: 300 });
    c.drained(id);
    c.tick(300);
    expect(take(c)).toEqual([{ kind: 'heartbeat', stream: id, mark: 3 }]);
  });

  it('anchors an ack at the later of the heartbeat it names and the entry it acknowledges', () => {
    const c = core({ heartbeatMs: 100 });
    const id = open(c, 0); // heartbeat 1 at 0
    c.append(50, [entry(1)]);
    c.flush(50);
    take(c);
    c.tick(100); // heartbeat 2 at 100
    take(c);
    c.streamAck(5_000, id, 1, 2);
    expect(c.ready().out).toEqual([{ kind: 'acked', seq: 1, anchorAt: 100 }]);
    c.streamAck(5_000, id, 1, 1);
    expect(c.ready().out).toEqual([{ kind: 'acked', seq: 1, anchorAt: 50 }]);
    c.streamAck(5_000, id, 0, 999);
    expect(c.ready().out).toEqual([{ kind: 'acked', seq: 0, anchorAt: undefined }]);
  });

  it('ignores an ack of more than it sent, and acks of a stream that is gone', () => {
    const c = core();
    const id = open(c, 0);
    c.append(1, [entry(1)]);
    c.streamAck(2, id, 1);
    expect(c.ready().out).toEqual([]);
    expect(c.lag(2).entries).toBe(1);
    c.flush(2);
    take(c);
    c.streamAck(3, id, 1);
    expect(c.ready().out).toEqual([{ kind: 'acked', seq: 1, anchorAt: 1 }]);
    c.streamClosed(id);
    c.streamAck(4, id, 1);
    expect(c.ready()).toEqual({ out: [], flush: false, wakeAt: Infinity });
  });

  it('a new stream ends the previous one', () => {
    const c = core();
    const first = open(c, 0);
    const second = c.subscribe(1, 0, 1);
    expect(take(c).slice(0, 1)).toEqual([{ kind: 'end', stream: first }]);
    expect(second).not.toBe(first);
  });
});

describe('replication source core: long-polls', () => {
  it('a poll waits until entries come or its wait is over, then is answered with a numbered answer', () => {
    const c = core();
    const p = c.poll(0, 0, 1, 500);
    expect(c.ready()).toMatchObject({ out: [{ kind: 'acked', seq: 0 }], wakeAt: 500 });
    c.tick(499);
    expect(c.ready().out).toEqual([]);
    c.tick(500);
    expect(c.ready()).toMatchObject({
      out: [{ kind: 'answer', poll: p, entries: [], mark: 1 }],
      wakeAt: Infinity,
    });
    const q = c.poll(600, 0, 1, 500, 1);
    expect(c.ready().out).toEqual([{ kind: 'acked', seq: 0, anchorAt: 500 }]);
    c.append(700, [entry(1), entry(2)]);
    expect(c.ready().flush).toBe(true);
    c.flush(700);
    expect(c.ready().out).toEqual([{ kind: 'answer', poll: q, entries: [json(1), json(2)], mark: 2 }]);
  });

  it('answers at once a standby that is behind, or that does not want to wait; at most a batch', () => {
    const c = core({ batchSize: 2 });
    c.append(0, [entry(1), entry(2), entry(3)]);
    const p = c.poll(10, 0, 1, 1000);
    expect(c.ready().out).toEqual([
      { kind: 'acked', seq: 0, anchorAt: undefined },
      { kind: 'answer', poll: p, entries: [json(1), json(2)], mark: 1 },
    ]);
    const q = c.poll(20, 3, 1, 0);
    expect(c.ready().out).toMatchObject([
      { kind: 'acked', seq: 3 },
      { kind: 'answer', poll: q, entries: [] },
    ]);
  });

  it('a cancelled poll is not answered and keeps nobody connected', () => {
    const c = core();
    const p = c.poll(0, 0, 1, 500);
    if (p === 'snapshot') throw new Error('snapshot');
    take(c);
    expect(c.peerLastSeenSeconds(4_000)).toBe(0);
    c.cancel(p);
    expect(c.ready().wakeAt).toBe(Infinity);
    expect(c.peerLastSeenSeconds(4_000)).toBe(4);
    expect(c.connected(4_000)).toBe(false);
  });

  it('a forked or unknown position must resync from a snapshot', () => {
    const c = core();
    c.append(0, [entry(1), entry(2)]);
    expect(c.poll(0, 2, 7, 500)).toBe('snapshot');
    expect(c.poll(0, 5, 1, 500)).toBe('snapshot');
    expect(c.ready().out).toEqual([]);
    expect(c.state(0)).toBe('catching-up'); // known, nothing acknowledged
  });
});

describe('replication source core: what it reports', () => {
  it('in sync once everything is acknowledged; behind until it is again; disconnected after 3 s of silence', () => {
    const c = core({ mode: 'sync' });
    expect(c.state(0)).toBe('disconnected');
    const id = open(c, 0);
    expect(c.state(0)).toBe('in-sync');
    expect(c.effectiveMode(0)).toBe('sync');
    c.append(100, [entry(1)]);
    c.flush(100);
    take(c);
    c.behind(600);
    expect(c.effectiveMode(600)).toBe('async');
    expect(c.sinceSyncTimeoutSeconds(1_600)).toBe(1);
    expect(c.lag(1_100)).toEqual({ entries: 1, seconds: 1 });
    expect(c.state(1_100)).toBe('catching-up');
    c.streamAck(1_200, id, 1);
    expect(c.effectiveMode(1_200)).toBe('sync');
    expect(c.lag(1_200)).toEqual({ entries: 0, seconds: 0 });
    expect(c.state(4_199)).toBe('in-sync');
    expect(c.state(4_200)).toBe('disconnected');
    expect(c.effectiveMode(4_200)).toBe('async');
    expect(c.peerLastSeenSeconds(4_200)).toBe(3);
  });

  it('is catching up while the standby is more than a batch behind, even in sync mode', () => {
    const c = core({ batchSize: 2 });
    const id = open(c, 0);
    c.append(1, [entry(1), entry(2), entry(3)]);
    c.flush(1);
    take(c);
    c.streamAck(2, id, 3);
    expect(c.state(2)).toBe('in-sync');
    c.append(3, [entry(4), entry(5), entry(6)]);
    expect(c.state(3)).toBe('catching-up');
  });

  it('an async source never reports sync mode', () => {
    const c = core({ mode: 'async' });
    open(c, 0);
    expect(c.effectiveMode(0)).toBe('async');
  });

  it('close answers every poll (unnumbered), ends every stream and refuses new streams', () => {
    const c = core();
    const p = c.poll(0, 0, 1, 500);
    take(c);
    const id = c.subscribe(0, 0, 1);
    take(c);
    c.close();
    expect(c.ready()).toEqual({
      out: [
        { kind: 'answer', poll: p, entries: [], mark: 0 },
        { kind: 'end', stream: id },
      ],
      flush: false,
      wakeAt: Infinity,
    });
    expect(c.state(0)).toBe('disconnected');
    expect(c.subscribe(0, 0, 1)).toBe('snapshot');
  });
});
