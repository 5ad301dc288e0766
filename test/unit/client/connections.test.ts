// LicenseClient over real sockets against a scripted HTTP server on loopback: kept-alive
// connections are reused, and dropped when the member answers NOT_ACTIVE / NO_QUORUM even if it
// does not close them itself; the heartbeat retries past the call budget until the lease expires.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LeaseLostError, LicenseClient } from '../../../src/client/client.ts';
import type { ClientEvent } from '../../../src/client/client.ts';

type Answer = { status: number; body: unknown };
type Seen = { path: string; body: Record<string, unknown>; socket: number };

/** A server whose answers come from `answer`; it records each request and the connection it came on. */
async function scripted(answer: (req: Seen, n: number) => Answer) {
  const sockets = new Map<Socket, number>();
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString()));
    req.on('end', () => {
      const s: Seen = {
        path: req.url ?? '',
        body: JSON.parse(text) as Record<string, unknown>,
        socket: sockets.get(req.socket) ?? -1,
      };
      seen.push(s);
      const a = answer(s, seen.length);
      const out = JSON.stringify(a.body);
      // never "Connection: close": the client must drop the connection on its own
      res.writeHead(a.status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(out),
      });
      res.end(out);
    });
  });
  server.on('connection', (socket) => sockets.set(socket, sockets.size + 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return { url, seen, close, connections: () => sockets.size };
}

const leaseBody = (id: string, ttl = 60, renewAfter = ttl / 2) => ({
  lease: {
    id,
    feature: 'synth',
    count: 1,
    clientId: 'c',
    user: 'u',
    host: 'h',
    expiresInSeconds: ttl,
    renewAfterSeconds: renewAfter,
    expiresAt: new Date(Date.now() + ttl * 1000).toISOString(),
    existing: false,
  },
});

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

describe('LicenseClient connections', () => {
  it('reuses a kept-alive connection, and opens a new one after NO_QUORUM and after NOT_ACTIVE', async () => {
    let refuse: string | undefined;
    const srv = await scripted(() => {
      if (refuse) {
        const code = refuse;
        refuse = undefined;
        return { status: 503, body: { code, message: `${code} for the test` } };
      }
      return { status: 200, body: leaseBody('1-1') };
    });
    cleanups.push(srv.close);
    const c = new LicenseClient({
      addresses: srv.url,
      clientId: 'c',
      user: 'u',
      host: 'h',
      autoRenew: false,
    });
    cleanups.push(() => c.close());

    await c.checkout('synth');
    await c.renew('1-1');
    expect(srv.seen.map((s) => s.socket)).toEqual([1, 1]); // kept alive

    refuse = 'NO_QUORUM';
    await c.renew('1-1');
    refuse = 'NOT_ACTIVE';
    await c.renew('1-1');
    await c.renew('1-1');
    // the refusal came on 1; its retry on a new connection 2, reused until the next refusal
    expect(srv.seen.map((s) => s.socket)).toEqual([1, 1, 1, 2, 2, 3, 3]);
    // every attempt sent the same request
    expect(new Set(srv.seen.slice(1).map((s) => JSON.stringify(s.body)))).toEqual(
      new Set([JSON.stringify({ leaseId: '1-1', clientId: 'c' })]),
    );
    expect(c.connectionsOpened.get(srv.url)).toBe(3);
  });

  it('the heartbeat keeps renewing past the call budget until it succeeds, with the same lease', async () => {
    let refuseUntil = 0;
    const srv = await scripted((req) => {
      if (req.path === '/v1/renew' && Date.now() < refuseUntil)
        return { status: 503, body: { code: 'NO_QUORUM', message: 'no standby' } };
      return { status: 200, body: leaseBody('2-1', 3, 0.2) };
    });
    cleanups.push(srv.close);
    const events: ClientEvent[] = [];
    const c = new LicenseClient({
      addresses: srv.url,
      clientId: 'c',
      user: 'u',
      host: 'h',
      retryBudgetMs: 300,
      backoffBaseMs: 20,
      backoffMaxMs: 100,
      onEvent: (e) => events.push(e),
    });
    cleanups.push(() => c.close());
    refuseUntil = Date.now() + 1500; // five call budgets
    const t0 = Date.now();
    await c.checkout('synth');
    while (!events.some((e) => e.type === 'renewed') && Date.now() - t0 < 4000)
      await new Promise((r) => setTimeout(r, 20));
    expect(events.find((e) => e.type === 'lease-lost')).toBeUndefined();
    expect(events.find((e) => e.type === 'renewed')).toMatchObject({ lease: { id: '2-1' } });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1500);
    expect(events.filter((e) => e.type === 'renew-failed')).toHaveLength(1);
    expect(c.leases().map((l) => l.id)).toEqual(['2-1']);
  });

  it('the heartbeat reports the lease lost (NOT_RENEWED, with the last cause) once it could not be renewed before it expired', async () => {
    const srv = await scripted((req) =>
      req.path === '/v1/renew'
        ? { status: 503, body: { code: 'NOT_ACTIVE', message: 'this member is standby', active: null } }
        : { status: 200, body: leaseBody('3-1', 1, 0.2) },
    );
    cleanups.push(srv.close);
    const events: ClientEvent[] = [];
    const c = new LicenseClient({
      addresses: srv.url,
      clientId: 'c',
      user: 'u',
      host: 'h',
      retryBudgetMs: 200,
      backoffBaseMs: 20,
      backoffMaxMs: 100,
      onEvent: (e) => events.push(e),
    });
    cleanups.push(() => c.close());
    const t0 = Date.now();
    await c.checkout('synth');
    while (!events.some((e) => e.type === 'lease-lost') && Date.now() - t0 < 4000)
      await new Promise((r) => setTimeout(r, 20));
    const lost = events.find((e) => e.type === 'lease-lost') as { reason: LeaseLostError } | undefined;
    expect(lost?.reason).toBeInstanceOf(LeaseLostError);
    expect(lost?.reason.code).toBe('NOT_RENEWED');
    expect(lost?.reason.message).toMatch(/^lease 3-1 of synth was not renewed before it expired: /);
    expect(lost?.reason.message).toContain('503 NOT_ACTIVE: this member is standby');
    // lost at the lease's expiry (1 s after the checkout was sent), not at the call budget (0.2 s)
    const tookMs = Date.now() - t0;
    expect(tookMs).toBeGreaterThanOrEqual(900);
    expect(tookMs).toBeLessThan(1500);
    expect(c.leases()).toEqual([]);
  });
});

describe('hedged attempts over real sockets', () => {
  // A member that hangs with the connections it has (every request on them is read and never
  // answered) while new connections reach one that answers: what a Service does once it moved.
  async function hangsOnOldConnections() {
    const sockets = new Map<Socket, number>();
    let hangFrom = Infinity;
    const seenOn: number[] = [];
    const server = http.createServer((req, res) => {
      const socket = sockets.get(req.socket) ?? -1;
      req.resume();
      req.on('end', () => {
        seenOn.push(socket);
        if (socket <= hangFrom && seenOn.length > 1) return; // hung: never answered
        const out = JSON.stringify(leaseBody(`L${seenOn.length}`));
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
        res.end(out);
      });
    });
    server.on('connection', (socket) => sockets.set(socket, sockets.size + 1));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      seenOn,
      hangNow: () => (hangFrom = sockets.size),
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    };
  }

  for (const hedge of [true, false])
    it(
      hedge
        ? 'a call stuck on a hung connection is answered on a new one after the hedge interval'
        : 'without hedging the same call waits out its attempt timeout first',
      async () => {
        const s = await hangsOnOldConnections();
        const events: ClientEvent[] = [];
        const client = new LicenseClient({
          addresses: s.url,
          clientId: 'c',
          user: 'u',
          host: 'h',
          autoRenew: false,
          requestTimeoutMs: 2000,
          ...(hedge ? { hedgeAfterMs: 200 } : {}),
          onEvent: (e) => events.push(e),
        });
        try {
          await client.checkout('synth'); // on connection 1, kept alive
          s.hangNow();
          const t0 = performance.now();
          const lease = await client.checkout('other');
          const took = performance.now() - t0;
          expect(lease.id).toMatch(/^L\d+$/);
          if (hedge) {
            expect(took).toBeLessThan(1500); // the hedge at 200 ms, not the 2 s timeout
            expect(s.seenOn.slice(0, 3)).toEqual([1, 1, 2]);
            expect(events.filter((e) => e.type === 'hedge')).toHaveLength(1);
          } else {
            expect(took).toBeGreaterThanOrEqual(1900);
            expect(events.some((e) => e.type === 'hedge')).toBe(false);
          }
        } finally {
          client.close();
          await s.close();
        }
      },
    );
});

describe('a hedged release', () => {
  it('whose stuck attempt released the lease: the hedge finds none, and the release has succeeded', async () => {
    let requests = 0;
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        requests++;
        if (req.url === '/v1/checkout') {
          const out = JSON.stringify(leaseBody('L1'));
          res.writeHead(200, {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(out),
          });
          return res.end(out);
        }
        // the first release is carried out and its answer never comes; the hedge finds no lease
        if (requests === 2) return;
        const out = JSON.stringify({ code: 'LEASE_NOT_FOUND', message: 'no lease L1' });
        res.writeHead(404, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
        res.end(out);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = new LicenseClient({
      addresses: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      clientId: 'c',
      user: 'u',
      host: 'h',
      autoRenew: false,
      hedgeAfterMs: 200,
    });
    try {
      const lease = await client.checkout('synth');
      await expect(client.release(lease.id)).resolves.toBeUndefined();
      expect(requests).toBe(3);
    } finally {
      client.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
