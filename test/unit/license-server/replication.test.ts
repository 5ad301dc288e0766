// Replication: the active's source with a fake stream sink (batching, acks, sync waits, backpressure,
// window), and two in-process members over the real stream and the long-poll fallback.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { LogEntry } from '../../../src/license-server/ledger.ts';
import { adminApp } from '../../../src/license-server/http.ts';
import { startServer } from '../../../src/license-server/main.ts';
import type { RunningServer } from '../../../src/license-server/main.ts';
import { ReplicationSource } from '../../../src/license-server/replication-source.ts';
import type { StreamSink } from '../../../src/license-server/replication-source.ts';
import { Member } from '../../../src/license-server/server.ts';
import { freePort } from '../../process/harness.ts';
import { feature, makeFixture, testConfig } from './fixtures.ts';
import type { Fixture } from './fixtures.ts';

const entry = (seq: number, epoch = 1): LogEntry => ({
  seq,
  epoch,
  op: { type: 'renew', id: `1-${seq}`, ttlMs: 1000 },
});
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function fakeSink(accept = () => true): StreamSink & { writes: string[]; ended: boolean; lines(): string[] } {
  const sink = {
    writes: [] as string[],
    ended: false,
    write(text: string) {
      sink.writes.push(text);
      return accept();
    },
    end() {
      sink.ended = true;
    },
    lines: () => sink.writes.join('').split('\n').filter(Boolean),
  };
  return sink;
}

describe('replication source: the stream', () => {
  it('sends a numbered heartbeat, then the entries of one turn in one write; acks report the anchor they answer', async () => {
    let now = 1_000;
    const acks: [number, number | undefined][] = [];
    const src = new ReplicationSource({
      mode: 'sync',
      now: () => now,
      onAck: (seq, anchorAt) => acks.push([seq, anchorAt]),
    });
    src.reset(0, 1);
    const sink = fakeSink();
    const h = src.subscribe(0, 1, sink, (n) => `{"hb":1,"n":${n}}`);
    expect(h).not.toBe('snapshot');
    if (h === 'snapshot') return;
    expect(sink.lines()).toEqual(['{"hb":1,"n":1}']);
    now = 1_100;
    const entries = [entry(1), entry(2), entry(3)];
    for (const e of entries) src.push([e]);
    await turn();
    expect(sink.writes).toHaveLength(2);
    expect(sink.lines().slice(1)).toEqual(entries.map((e) => JSON.stringify(e)));
    acks.length = 0;
    now = 5_000; // the ack arrives late: the anchor is still when the entry went out
    h.ack(2, 1);
    expect(acks).toEqual([[2, 1_100]]);
    h.ack(3);
    expect(acks.at(-1)).toEqual([3, 1_100]);
    expect(src.lag().entries).toBe(0);
    expect(src.state()).toBe('in-sync');
    src.close();
    expect(sink.ended).toBe(true);
  });

  it('an ack of a heartbeat is anchored at that heartbeat; behind() counts the standby as catching up until it has everything', async () => {
    let now = 0;
    const acks: [number, number | undefined][] = [];
    const src = new ReplicationSource({
      mode: 'sync',
      heartbeatMs: 10,
      now: () => now,
      onAck: (seq, anchorAt) => acks.push([seq, anchorAt]),
    });
    src.reset(0, 1);
    const sink = fakeSink();
    const h = src.subscribe(0, 1, sink, (n) => `{"hb":1,"n":${n}}`);
    if (h === 'snapshot') throw new Error('snapshot');
    now = 40;
    await sleep(35); // a few heartbeats, all sent "at 40"
    const marks = sink.lines().map((l) => (JSON.parse(l) as { n: number }).n);
    expect(marks.length).toBeGreaterThan(1);
    h.ack(0, marks.at(-1));
    expect(acks.at(-1)).toEqual([0, 40]);
    h.ack(0, 999_999); // a heartbeat this member never sent: no anchor
    expect(acks.at(-1)).toEqual([0, undefined]);
    src.push([entry(1)]);
    await turn();
    src.behind();
    expect(src.effectiveMode()).toBe('async');
    expect(src.sinceSyncTimeoutSeconds()).toBe(0);
    h.ack(1);
    expect(src.effectiveMode()).toBe('sync');
    src.close();
  });

  it('never acknowledges more than it sent; a forked position must resync from a snapshot', async () => {
    const src = new ReplicationSource({ mode: 'sync' });
    src.reset(0, 1);
    src.push([entry(1), entry(2)]);
    expect(src.subscribe(2, 7, fakeSink(), () => '{}')).toBe('snapshot');
    expect(src.subscribe(5, 1, fakeSink(), () => '{}')).toBe('snapshot');
    const sink = fakeSink();
    const h = src.subscribe(1, 1, sink, () => '{}');
    if (h === 'snapshot') throw new Error('snapshot');
    expect(sink.lines()).toEqual(['{}', JSON.stringify(entry(2))]);
    src.push([entry(3)]);
    h.ack(3); // not sent yet (next turn): ignored
    expect(src.lag().entries).toBe(2);
    await turn();
    h.ack(3);
    expect(src.lag().entries).toBe(0);
    src.close();
  });

  it('stops writing while the sink is full and resumes on drain; ends a stream that fell out of the window', async () => {
    const src = new ReplicationSource({ mode: 'async', windowSize: 10, batchSize: 2 });
    src.reset(0, 1);
    let full = false;
    const sink = fakeSink(() => !full);
    const h = src.subscribe(0, 1, sink, () => '{}');
    if (h === 'snapshot') throw new Error('snapshot');
    full = true;
    src.push([entry(1), entry(2), entry(3)]);
    await turn();
    expect(sink.lines()).toEqual(['{}', JSON.stringify(entry(1)), JSON.stringify(entry(2))]);
    full = false;
    h.drained();
    expect(sink.lines()).toHaveLength(4);
    full = true;
    src.push([entry(4)]);
    await turn();
    expect(sink.lines()).toHaveLength(5); // written, and the sink is full again
    for (let s = 5; s <= 12; s++) src.push([entry(s)]);
    await turn();
    expect(sink.lines()).toHaveLength(5);
    expect(sink.ended).toBe(false);
    h.drained(); // entries 5.. are gone from the window (it keeps the newest half)
    expect(sink.ended).toBe(true);
    src.close();
  });

  it('a new stream replaces the previous one (the standby reconnected)', () => {
    const src = new ReplicationSource({ mode: 'sync' });
    src.reset(0, 1);
    const first = fakeSink();
    src.subscribe(0, 1, first, () => '{}');
    src.subscribe(0, 1, fakeSink(), () => '{}');
    expect(first.ended).toBe(true);
    src.close();
  });
});

type Json = Record<string, unknown> & { replication: Record<string, unknown>; role: string };

describe('two members in one process', () => {
  let fx: Fixture;
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
    fx.cleanup();
  });
  const status = async (adminPort: number): Promise<Json> =>
    (await (
      await fetch(`http://127.0.0.1:${adminPort}/v1/status`, {
        headers: { authorization: `Bearer ${fx.token}` },
      })
    ).json()) as Json;
  const until = async (what: string, fn: () => Promise<boolean> | boolean, ms = 5000): Promise<void> => {
    const deadline = Date.now() + ms;
    while (!(await fn())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(20);
    }
  };
  const checkout = (m: Member, clientId: string) =>
    m.checkout({ feature: 'synth', count: 1, clientId, user: 'u', host: 'h' });

  it('sync over the stream: the standby has every acknowledged checkout; the stream outlives the request timeout; refused, then served alone under a grant, when the standby is gone', async () => {
    fx = makeFixture([feature('synth', 100)]);
    const [pa, pb] = [await freePort(), await freePort()];
    const cfg = (member: string, port: number, peer: number) =>
      testConfig(fx, {
        member,
        adminPort: port,
        peerUrl: `http://127.0.0.1:${peer}`,
        requestTimeoutMs: 300,
      });
    const a: RunningServer = await startServer(cfg('primary', pa, pb));
    closers.push(() => a.close());
    const b: RunningServer = await startServer(cfg('redundant', pb, pa));
    let bOpen = true;
    closers.push(async () => {
      if (bOpen) await b.close();
    });
    expect((await a.member.promote(1, false)).ok).toBe(true);
    await until('standby in sync', async () => (await status(pb)).replication.state === 'in-sync');
    await until('active in sync mode', () => a.member.status().replication.mode === 'sync');
    for (let i = 0; i < 20; i++) {
      const r = await checkout(a.member, `c${i}`);
      if (!r.ok) throw new Error(r.message);
      // answered only once the standby has it
      expect(b.member.leases().some((l) => l.id === r.lease.id)).toBe(true);
    }
    await sleep(800); // longer than the request timeout: the stream is not an HTTP request
    const late = await checkout(a.member, 'late');
    if (!late.ok) throw new Error(late.message);
    expect(b.member.leases().some((l) => l.id === late.lease.id)).toBe(true);
    expect(a.member.status().replication).toMatchObject({ state: 'in-sync', mode: 'sync', lagEntries: 0 });
    expect(b.member.status().replication).toMatchObject({ state: 'in-sync', lagEntries: 0 });

    // The standby goes: its promise lapses, and without a solo grant nothing more is granted.
    await b.close();
    bOpen = false;
    await until('peer right lapsed', () => a.member.status().serving?.right === 'none');
    const t = Date.now();
    const refused = await checkout(a.member, 'gone');
    expect(refused).toMatchObject({ ok: false, code: 'NO_QUORUM' });
    expect(Date.now() - t).toBeGreaterThanOrEqual(450); // it waited the sync timeout for a right
    expect(a.member.leases().some((l) => l.clientId === 'gone')).toBe(false); // and changed nothing
    // The operator's solo grant, anchored at a status answer: served again, alone.
    const anchor = a.member.status().serving!.anchor;
    expect(a.member.grant({ epoch: 1, anchor, ms: 2000 })).toEqual({ ok: true });
    for (let i = 0; i < 5; i++) expect((await checkout(a.member, `gone${i}`)).ok).toBe(true);
    expect(a.member.status().serving).toMatchObject({ right: 'alone', mayGrant: true });
    expect(a.member.status().replication.lagEntries).toBe(5);
    expect(a.member.grant({ epoch: 2, anchor, ms: 2000 })).toMatchObject({ ok: false, code: 'STALE_EPOCH' });
    expect(a.member.grant({ epoch: 1, anchor: 999_999, ms: 2000 })).toMatchObject({
      ok: false,
      code: 'UNKNOWN_ANCHOR',
    });
  });

  it('refuses a stream with a clear status: wrong token, not upgraded, not active, unknown position', async () => {
    fx = makeFixture([feature('synth', 100)]);
    const s = await startServer(testConfig(fx));
    closers.push(() => s.close());
    const url = (q: string) => `http://127.0.0.1:${s.ports.admin}/v1/replication/stream?${q}`;
    const upgrade = (q: string, token = fx.token) =>
      new Promise<{ status: number; code?: string }>((resolve, reject) => {
        const req = http.request(url(q), {
          agent: false,
          headers: {
            authorization: `Bearer ${token}`,
            connection: 'Upgrade',
            upgrade: 'lsp-replication/1',
          },
        });
        req.on('upgrade', (_res, socket) => {
          socket.destroy();
          resolve({ status: 101 });
        });
        req.on('response', (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, code: (JSON.parse(text) as { code: string }).code }),
          );
        });
        req.on('error', reject);
        req.end();
      });
    expect(await upgrade('after=0&afterEpoch=0', 'wrong')).toEqual({ status: 401, code: 'UNAUTHORIZED' });
    expect(await upgrade('after=x&afterEpoch=0')).toEqual({ status: 400, code: 'BAD_REQUEST' });
    expect(await upgrade('after=0&afterEpoch=0')).toEqual({ status: 503, code: 'NOT_ACTIVE' });
    const plain = await fetch(url('after=0&afterEpoch=0'), {
      headers: { authorization: `Bearer ${fx.token}` },
    });
    expect(plain.status).toBe(426);
    expect((await s.member.promote(3, false)).ok).toBe(true);
    expect(await upgrade('after=0&afterEpoch=0')).toEqual({ status: 101 });
    expect(await upgrade('after=0&afterEpoch=2')).toEqual({ status: 409, code: 'SNAPSHOT_REQUIRED' });
    expect(await upgrade('after=9&afterEpoch=3')).toEqual({ status: 409, code: 'SNAPSHOT_REQUIRED' });
  });

  it('long-polls an active that does not offer the stream, still synchronously', async () => {
    fx = makeFixture([feature('synth', 100)]);
    const [pa, pb] = [await freePort(), await freePort()];
    // the active: a member behind a plain server without the upgrade (as an older version)
    const log = pino({ level: 'silent' });
    const am = new Member({
      config: testConfig(fx, { member: 'primary', adminPort: pa, peerUrl: `http://127.0.0.1:${pb}` }),
      logger: log,
      usageLogger: undefined,
      peerToken: () => fx.token,
    });
    am.start();
    const server = http.createServer(
      adminApp(am, {
        bodyLimit: '16kb',
        requestTimeoutMs: 10_000,
        adminTokens: undefined,
        clientTokens: undefined,
      }),
    );
    await new Promise<void>((r) => server.listen(pa, '127.0.0.1', () => r()));
    expect((server.address() as AddressInfo).port).toBe(pa);
    closers.push(async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await am.close();
    });
    const b = await startServer(
      testConfig(fx, { member: 'redundant', adminPort: pb, peerUrl: `http://127.0.0.1:${pa}` }),
    );
    closers.push(() => b.close());
    expect((await am.promote(1, false)).ok).toBe(true);
    await until('standby in sync', async () => (await status(pb)).replication.state === 'in-sync');
    // the standby's next poll acknowledges what it applied: then the active waits for it
    await until('active in sync mode', () => am.status().replication.mode === 'sync');
    for (let i = 0; i < 5; i++) {
      const r = await checkout(am, `p${i}`);
      if (!r.ok) throw new Error(r.message);
      expect(b.member.leases().some((l) => l.id === r.lease.id)).toBe(true);
    }
    expect(am.status().replication).toMatchObject({ state: 'in-sync', mode: 'sync' });
  });
});
