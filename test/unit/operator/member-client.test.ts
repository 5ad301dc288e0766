import { spawn } from 'node:child_process';
import { stat } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changeRole, httpCheck, readStatus, statusCheck } from '../../../src/operator/member-client.ts';

// A real HTTP server on loopback playing a member: healthy, failing, hung, oversized, the status
// and role-change endpoints of the reference protocol.
let server: http.Server;
let base = '';
const seen: { path: string; auth?: string; body: string }[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({
        path: req.url ?? '',
        ...(req.headers.authorization ? { auth: req.headers.authorization } : {}),
        body,
      });
      switch (req.url) {
        case '/healthz':
          return res.end('ok');
        case '/failing':
          res.statusCode = 503;
          return res.end('not ready');
        case '/hang':
        case '/hung/v1/status':
          return; // never answered
        case '/broken/v1/status':
          res.statusCode = 500;
          return res.end('{"code":"Internal"}');
        case '/huge':
          return res.end('x'.repeat(200 * 1024));
        case '/v1/status':
          if (req.headers.authorization !== 'Bearer s3cret') {
            res.statusCode = 401;
            return res.end('{"code":"Unauthorized"}');
          }
          return res.end(
            JSON.stringify({
              role: 'standby',
              epoch: 7,
              replication: { state: 'catching-up', lagEntries: 3, lagSeconds: 0.5, peerLastSeenSeconds: 0.2 },
            }),
          );
        case '/v1/admin/promote':
          res.statusCode = 409;
          return res.end(JSON.stringify({ code: 'StaleEpoch', message: 'epoch 3 is older than 7' }));
        default:
          res.statusCode = 404;
          return res.end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('member calls', () => {
  it('passes a 2xx health check and fails a 5xx one with the status in the message', async () => {
    const ok = await httpCheck(`${base}/healthz`, 1000);
    expect(ok).toMatchObject({ ok: true, message: 'HTTP 200' });
    const bad = await httpCheck(`${base}/failing`, 1000);
    expect(bad).toMatchObject({ ok: false, message: 'HTTP 503' });
  });

  it('fails a check that gets no answer within its timeout, and does not wait longer', async () => {
    const started = Date.now();
    const r = await httpCheck(`${base}/hang`, 300);
    expect(r).toMatchObject({ ok: false, message: 'timed out' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('names a refused connection', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    expect(await httpCheck(`http://127.0.0.1:${port}/healthz`, 1000)).toMatchObject({
      ok: false,
      message: 'ECONNREFUSED',
    });
  });

  it('does not buffer an answer larger than a health or status answer can be', async () => {
    const r = await httpCheck(`${base}/huge`, 1000);
    expect(r.ok).toBe(false);
    expect(r.message).toMatch(/larger than/);
  });

  it('reads the status with the token, and nothing without it', async () => {
    expect(await readStatus(base, { token: 's3cret' }, 1000)).toEqual({
      role: 'standby',
      epoch: 7,
      replication: 'catching-up',
      lagEntries: 3,
      lagSeconds: 0.5,
      peerLastSeenSeconds: 0.2,
    });
    expect(await readStatus(base, { token: 'wrong' }, 1000)).toBeUndefined();
    expect(seen.filter((s) => s.path === '/v1/status').map((s) => s.auth)).toEqual([
      'Bearer s3cret',
      'Bearer wrong',
    ]);
  });

  it('reads the status as the health check in one request: any answer below 500 passes', async () => {
    const before = seen.length;
    const ok = await statusCheck(base, { token: 's3cret' }, 1000);
    expect(ok.result).toMatchObject({ ok: true, message: 'HTTP 200' });
    expect(ok.status).toMatchObject({ role: 'standby', epoch: 7, replication: 'catching-up' });
    // A refused token: the server is alive, its report unknown.
    const refused = await statusCheck(base, { token: 'wrong' }, 1000);
    expect(refused.result).toMatchObject({ ok: true, message: 'HTTP 401' });
    expect(refused.status).toBeUndefined();
    expect(seen.length - before).toBe(2);
    const broken = await statusCheck(`${base}/broken`, { token: 's3cret' }, 1000);
    expect(broken.result).toMatchObject({ ok: false, message: 'HTTP 500' });
    expect(broken.status).toBeUndefined();
    const hung = await statusCheck(`${base}/hung`, { token: 's3cret' }, 300);
    expect(hung.result).toMatchObject({ ok: false, message: 'timed out' });
  });

  it('sends a role change with its epoch and reports a refusal with its code and reason', async () => {
    const r = await changeRole(base, { token: 's3cret' }, 'promote', 3, true, 1000);
    expect(r).toEqual({ ok: false, status: 409, code: 'StaleEpoch', message: 'epoch 3 is older than 7' });
    expect(seen.find((s) => s.path === '/v1/admin/promote')).toMatchObject({
      auth: 'Bearer s3cret',
      body: JSON.stringify({ epoch: 3, force: true }),
    });
    await changeRole(base, { token: 's3cret' }, 'promote', 4, true, 1000, {
      grant: { anchor: 2, ms: 5000 },
      peerExited: true,
    });
    expect(seen.filter((s) => s.path === '/v1/admin/promote').at(-1)).toMatchObject({
      body: JSON.stringify({ epoch: 4, force: true, grant: { anchor: 2, ms: 5000 }, peerExited: true }),
    });
  });
});

// Real time, a member in another process: the event loop runs the timers that fell due before it
// reads the sockets again, so after a busy moment of the operator a check's deadline would pass
// over an answer that came in time and waits unread.
describe("a check and the operator's own stall", () => {
  it('reads an answer that arrived during the stall before it calls the check timed out', async () => {
    const member = spawn(
      process.execPath,
      [
        '-e',
        `require('node:http').createServer((q, s) => setTimeout(() => s.end('ok'), 150))
           .listen(0, '127.0.0.1', function () { console.log(this.address().port); });`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      const port = await new Promise<string>((r) =>
        member.stdout.once('data', (d: Buffer) => r(d.toString().trim())),
      );
      const check = httpCheck(`http://127.0.0.1:${port}/healthz`, 300);
      // The request is out; the answer comes 150 ms later, while the operator is busy past the
      // check's deadline.
      await new Promise((r) => setTimeout(r, 100));
      await new Promise<void>((r) =>
        stat(process.execPath, () => {
          const until = Date.now() + 500;
          while (Date.now() < until);
          r();
        }),
      );
      expect(await check).toMatchObject({ ok: true, message: 'HTTP 200' });
    } finally {
      member.kill();
    }
  });
});
