// Property-based fuzzing of one member's HTTP API over real sockets: valid lease operations mixed
// with malformed bodies, wrong types, unknown fields, huge strings, bad paths and methods, bad
// content types and encodings, missing or wrong tokens. Every answer must be below 500, every 4xx
// a JSON {code, message}, and a refused request must change nothing: the leases (admin API), the
// seat usage (features API), the log position and the journal on disk. Seat usage is also checked
// against a model that predicts the answer to every valid operation.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, byteSize, configFromEnv } from '../../../src/license-server/config.ts';
import { startServer } from '../../../src/license-server/main.ts';
import type { RunningServer } from '../../../src/license-server/main.ts';
import {
  ERROR_CODES,
  checkoutBody,
  demoteBody,
  entriesQuery,
  leaseRefBody,
  promoteBody,
} from '../../../src/license-server/protocol.ts';
import { feature, makeFixture, testConfig } from './fixtures.ts';
import type { Fixture } from './fixtures.ts';

type Port = 'licences' | 'admin' | 'metrics';
type Req = {
  port: Port;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
};
type Res = { status: number; headers: http.IncomingHttpHeaders; text: string };

const FEATURES = { synth: { seats: 3 }, sim: { seats: 2, maxPerUser: 1 } } as const;
type FeatureName = keyof typeof FEATURES;
const CLIENTS = ['c0', 'c1', 'c2', 'c3', 'c4'];
const USERS = ['alice', 'bob', 'carol'];
const HOSTS = ['ws1', 'ws2'];

// What the model knows: the leases the server granted, by id.
type ModelLease = { id: string; feature: string; count: number; clientId: string; user: string };
type Model = Map<string, ModelLease>;

// ----------------------------------------------------------------------------- operations

type Op =
  | { kind: 'checkout'; feature: string; clientId: string; user: string; host: string; count: number }
  | { kind: 'renew'; pick: number; otherClient: boolean }
  | { kind: 'release'; pick: number; otherClient: boolean }
  | { kind: 'revoke'; pick: number }
  | { kind: 'bad'; req: (tokens: Tokens) => Req; why: string };

type Tokens = { admin: string; client: string };

const json = (v: unknown): string => JSON.stringify(v);
const jsonHeaders = (token?: string): Record<string, string> => ({
  'content-type': 'application/json',
  ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
});

const validOp: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('checkout' as const),
      feature: fc.constantFrom('synth', 'sim', 'synth', 'unlicensed'),
      clientId: fc.constantFrom(...CLIENTS),
      user: fc.constantFrom(...USERS),
      host: fc.constantFrom(...HOSTS),
      count: fc.integer({ min: 1, max: 4 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constantFrom('renew' as const, 'release' as const),
      pick: fc.nat(20),
      otherClient: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('revoke' as const), pick: fc.nat(20) }) },
);

// A value that may sit in a JSON body where something else is expected.
const junk: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.string({ minLength: 254, maxLength: 3000 }),
  fc.constantFrom(-1, 0, 1.5, 1e308, -0, Number.MAX_SAFE_INTEGER + 2, '', ' ', '1', true, null, [], {}),
);

/** Mutate a valid body into one that does not validate (checked against the server's schema). */
function invalidBody(
  valid: fc.Arbitrary<Record<string, unknown>>,
  schema: { safeParse(v: unknown): { success: boolean } },
) {
  return fc
    .oneof(
      // a field of the wrong type or out of range
      fc.tuple(valid, fc.string({ maxLength: 10 }), junk).map(([b, _k, v]) => {
        const keys = Object.keys(b);
        const k = keys[Math.abs(hash(json(v))) % keys.length] as string;
        return { ...b, [k]: v };
      }),
      // an unknown field
      fc
        .tuple(valid, fc.string({ minLength: 1, maxLength: 20 }), junk)
        .map(([b, k, v]) => ({ ...b, [`x${k}`]: v })),
      // a required field missing
      fc.tuple(valid, fc.nat()).map(([b, i]) => {
        const keys = Object.keys(b);
        const copy: Record<string, unknown> = { ...b };
        delete copy[keys[i % keys.length] as string];
        return copy;
      }),
      // not an object at all
      fc.jsonValue({ maxDepth: 3 }),
      // prototype-polluting keys
      valid.map((b) => JSON.parse(`{"__proto__":{"admin":true},${json(b).slice(1)}`) as unknown),
    )
    .filter((b) => !schema.safeParse(b).success);
}

function hash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
  return h;
}

const validCheckout = fc.record({
  feature: fc.constantFrom('synth', 'sim'),
  count: fc.integer({ min: 1, max: 2 }),
  clientId: fc.constantFrom(...CLIENTS),
  user: fc.constantFrom(...USERS),
  host: fc.constantFrom(...HOSTS),
});
const validRef = fc.record({ leaseId: fc.constant('1-2'), clientId: fc.constantFrom(...CLIENTS) });
// Valid promote/demote bodies with an epoch high enough that, if accepted, the role would change.
const validEpoch = fc.record({ epoch: fc.integer({ min: 1000, max: 2000 }) });

const wrongToken = fc.oneof(
  fc.constant(undefined),
  fc.constant(''),
  fc.constant('Bearer'),
  fc.constant('Bearer '),
  fc.string({ maxLength: 80 }).map((s) => `Bearer ${s.replace(/[^\x21-\x7e]/g, 'x')}`),
  fc.string({ maxLength: 40 }).map((s) => `Basic ${Buffer.from(s).toString('base64')}`),
);
const withAuth = (h: string | undefined): Record<string, string> =>
  h === undefined ? {} : { authorization: h };

// Paths that exist (express matches them case-insensitively, with or without a trailing slash).
const ROUTES = new Set([
  '/v1/openapi.json',
  '/v1/features',
  '/v1/checkout',
  '/v1/renew',
  '/v1/release',
  '/healthz',
  '/readyz',
  '/metrics',
  '/v1/status',
  '/v1/admin/leases',
  '/v1/admin/promote',
  '/v1/admin/demote',
  '/v1/admin/reload-license',
  '/v1/replication/snapshot',
  '/v1/replication/entries',
  '/v1/replication/stream',
]);

const pathSegment = fc.oneof(
  fc.string({ minLength: 1, maxLength: 12 }).map((s) => encodeURIComponent(s)),
  fc.constantFrom('..', '.', '%00', '%E0%A4%A', '%', 'v1', 'admin', 'leases', 'checkout', '%2e%2e', 'x?a=1'),
);

const badOp: fc.Arbitrary<Op> = fc.oneof(
  // malformed bodies on every POST endpoint (with the right token)
  ...(
    [
      ['licences', '/v1/checkout', invalidBody(validCheckout, checkoutBody)],
      ['licences', '/v1/renew', invalidBody(validRef, leaseRefBody)],
      ['licences', '/v1/release', invalidBody(validRef, leaseRefBody)],
      ['admin', '/v1/admin/promote', invalidBody(validEpoch, promoteBody)],
      ['admin', '/v1/admin/demote', invalidBody(validEpoch, demoteBody)],
    ] as const
  ).map(([port, p, arb]) =>
    arb.map((b): Op => ({
      kind: 'bad',
      why: `invalid body on ${p}`,
      req: (t) => ({
        port,
        method: 'POST',
        path: p,
        headers: jsonHeaders(port === 'admin' ? t.admin : t.client),
        body: json(b),
      }),
    })),
  ),
  // text that is not JSON, or JSON cut short
  fc
    .tuple(
      fc.constantFrom('/v1/checkout', '/v1/renew', '/v1/release'),
      fc.oneof(
        fc.string({ maxLength: 200 }),
        fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a).toString('latin1')),
        validCheckout.map((b) => json(b)).chain((s) => fc.nat(s.length - 1).map((n) => s.slice(0, n))),
      ),
    )
    .filter(([, text]) => {
      try {
        return !checkoutBody.safeParse(JSON.parse(text)).success;
      } catch {
        return true;
      }
    })
    .map(([p, text]): Op => ({
      kind: 'bad',
      why: `non-JSON body on ${p}`,
      req: (t) => ({ port: 'licences', method: 'POST', path: p, headers: jsonHeaders(t.client), body: text }),
    })),
  // a valid checkout with a content type that is not JSON: must not be taken as JSON
  fc
    .tuple(
      validCheckout,
      fc.constantFrom(
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/xml',
        'application/octet-stream',
        'json',
        '*/*',
        '',
      ),
    )
    .map(([b, ct]): Op => ({
      kind: 'bad',
      why: `content type ${ct}`,
      req: (t) => ({
        port: 'licences',
        method: 'POST',
        path: '/v1/checkout',
        headers: { 'content-type': ct, authorization: `Bearer ${t.client}` },
        body: json(b),
      }),
    })),
  // a JSON body (UTF-16) with a charset or an encoding that does not fit it
  fc
    .tuple(
      validCheckout,
      fc.constantFrom<Record<string, string>>(
        { 'content-type': 'application/json; charset=latin1' },
        { 'content-type': 'application/json; charset=utf-8' },
        { 'content-type': 'application/json', 'content-encoding': 'gzip' },
        { 'content-type': 'application/json', 'content-encoding': 'br' },
        { 'content-type': 'application/json', 'content-encoding': 'compress' },
      ),
    )
    .map(([b, h]): Op => ({
      kind: 'bad',
      why: `content headers ${json(h)}`,
      req: (t) => ({
        port: 'licences',
        method: 'POST',
        path: '/v1/checkout',
        headers: { ...h, authorization: `Bearer ${t.client}` },
        body: Buffer.from(json(b), 'utf16le'),
      }),
    })),
  // bodies over the limit (16 kB)
  fc
    .tuple(fc.constantFrom('/v1/checkout', '/v1/admin/promote'), fc.integer({ min: 17_000, max: 60_000 }))
    .map(([p, n]): Op => ({
      kind: 'bad',
      why: `${n}-byte body on ${p}`,
      req: (t) => ({
        port: p.startsWith('/v1/admin') ? 'admin' : 'licences',
        method: 'POST',
        path: p,
        headers: jsonHeaders(p.startsWith('/v1/admin') ? t.admin : t.client),
        body: json({
          epoch: 5000,
          feature: 'synth',
          clientId: 'c0',
          user: 'alice',
          host: 'ws1',
          pad: 'x'.repeat(n),
        }),
      }),
    })),
  // valid requests with a missing or wrong token (admin, replication and client endpoints)
  fc
    .tuple(
      fc.constantFrom(
        {
          port: 'admin' as const,
          method: 'POST',
          path: '/v1/admin/promote',
          body: json({ epoch: 5000, force: true }),
        },
        { port: 'admin' as const, method: 'POST', path: '/v1/admin/demote', body: json({ epoch: 5000 }) },
        { port: 'admin' as const, method: 'POST', path: '/v1/admin/reload-license', body: '' },
        { port: 'admin' as const, method: 'DELETE', path: '/v1/admin/leases/LEASE' },
        { port: 'admin' as const, method: 'GET', path: '/v1/admin/leases' },
        { port: 'admin' as const, method: 'GET', path: '/v1/status' },
        { port: 'admin' as const, method: 'GET', path: '/v1/replication/snapshot' },
        {
          port: 'admin' as const,
          method: 'GET',
          path: '/v1/replication/entries?after=0&afterEpoch=0&wait=0',
        },
        { port: 'admin' as const, method: 'GET', path: '/v1/replication/stream?after=0&afterEpoch=0' },
        {
          port: 'licences' as const,
          method: 'POST',
          path: '/v1/checkout',
          body: json({ feature: 'synth', clientId: 'c9', user: 'alice', host: 'ws1' }),
        },
        {
          port: 'licences' as const,
          method: 'POST',
          path: '/v1/release',
          body: json({ leaseId: 'LEASE', clientId: 'CLIENT' }),
        },
        { port: 'licences' as const, method: 'GET', path: '/v1/features' },
      ),
      wrongToken,
    )
    .map(([r, auth]): Op => ({
      kind: 'bad',
      why: `token ${json(auth)} on ${r.method} ${r.path}`,
      req: () => ({
        port: r.port,
        method: r.method,
        path: r.path,
        headers: { 'content-type': 'application/json', ...withAuth(auth) },
        ...(r.body === undefined ? {} : { body: r.body }),
      }),
    })),
  // replication queries that do not validate
  fc
    .tuple(
      fc.constantFrom('entries', 'stream'),
      fc.dictionary(
        fc.constantFrom('after', 'afterEpoch', 'wait', 'epoch', 'member'),
        fc.oneof(
          fc.constantFrom('-1', '1.5', 'abc', '', '1e400', '99999999999999999999', 'NaN'),
          fc.string({ maxLength: 200 }),
        ),
      ),
    )
    // the stream route without the upgrade headers refuses any query (426)
    .filter(([what, q]) => what === 'stream' || !entriesQuery.safeParse(q).success)
    .map(([what, q]): Op => ({
      kind: 'bad',
      why: `replication ${what} query ${json(q)}`,
      req: (t) => ({
        port: 'admin',
        method: 'GET',
        path: `/v1/replication/${what}?${new URLSearchParams(q).toString()}`,
        headers: { authorization: `Bearer ${t.admin}` },
      }),
    })),
  // paths and methods that do not exist
  fc
    .tuple(
      fc.constantFrom<Port>('licences', 'admin', 'metrics'),
      fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'PROPFIND'),
      fc.array(pathSegment, { minLength: 1, maxLength: 4 }),
    )
    .map(([port, method, segs]): [Port, string, string] => [port, method, `/${segs.join('/')}`])
    .filter(([, , p]) => !ROUTES.has(p.split('?')[0]?.toLowerCase().replace(/\/+$/, '') ?? ''))
    .map(([port, method, p]): Op => ({
      kind: 'bad',
      why: `${method} ${p} on ${port}`,
      req: (t) => ({
        port,
        method,
        path: p,
        headers: jsonHeaders(port === 'admin' ? t.admin : t.client),
        ...(method === 'GET' || method === 'OPTIONS' || method === 'TRACE' ? {} : { body: '{}' }),
      }),
    })),
  // known paths with a method they do not have
  fc
    .tuple(
      fc.constantFrom(
        ['licences', '/v1/checkout'],
        ['licences', '/v1/features'],
        ['admin', '/v1/admin/promote'],
        ['admin', '/v1/admin/leases'],
        ['admin', '/v1/status'],
      ),
      fc.constantFrom('PUT', 'PATCH', 'DELETE', 'OPTIONS'),
    )
    .map(([[port, p], method]): Op => ({
      kind: 'bad',
      why: `${method} ${p}`,
      req: (t) => ({
        port: port as Port,
        method,
        path: p as string,
        headers: jsonHeaders(port === 'admin' ? t.admin : t.client),
        body: json({ epoch: 5000 }),
      }),
    })),
  // revoking a lease that does not exist, under a name no lease has
  fc.string({ minLength: 1, maxLength: 300 }).map((id): Op => ({
    kind: 'bad',
    why: `revoke ${json(id)}`,
    req: (t) => ({
      port: 'admin',
      method: 'DELETE',
      path: `/v1/admin/leases/x${encodeURIComponent(id)}`,
      headers: { authorization: `Bearer ${t.admin}` },
    }),
  })),
);

// ----------------------------------------------------------------------------- the member

describe('fuzzing the HTTP API of one member', () => {
  let fx: Fixture;
  let s: RunningServer;
  let tokens: Tokens;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

  function send(r: Req): Promise<Res> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: s.ports[r.port],
          method: r.method,
          path: r.path,
          headers: {
            ...r.headers,
            ...(r.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(r.body)) }),
          },
          agent,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              text: Buffer.concat(chunks).toString(),
            }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(r.body);
    });
  }

  const adminGet = async (p: string): Promise<unknown> => {
    const r = await send({
      port: 'admin',
      method: 'GET',
      path: p,
      headers: { authorization: `Bearer ${tokens.admin}` },
    });
    expect(r.status).toBe(200);
    return JSON.parse(r.text);
  };

  /** Everything a refused request must leave alone. */
  async function observe() {
    const leases = ((await adminGet('/v1/admin/leases')) as { leases: ModelLease[] }).leases
      .map((l) => ({ id: l.id, feature: l.feature, count: l.count, clientId: l.clientId, user: l.user }))
      .sort((a, b) => a.id.localeCompare(b.id));
    const features = await send({
      port: 'licences',
      method: 'GET',
      path: '/v1/features',
      headers: { authorization: `Bearer ${tokens.client}` },
    });
    const usage = (
      JSON.parse(features.text) as { features: { name: string; inUse: number; leases: number }[] }
    ).features.map((f) => ({ name: f.name, inUse: f.inUse, leases: f.leases }));
    const status = (await adminGet('/v1/status')) as {
      role: string;
      epoch: number;
      replication: { lastSeq: number };
    };
    const dir = s.member.config.stateDir;
    const disk = fs
      .readdirSync(dir)
      .sort()
      .map(
        (f) =>
          `${f}:${createHash('sha256')
            .update(fs.readFileSync(path.join(dir, f)))
            .digest('hex')}`,
      );
    return { leases, usage, role: status.role, epoch: status.epoch, seq: status.replication.lastSeq, disk };
  }

  function expectModel(model: Model, seen: Awaited<ReturnType<typeof observe>>): void {
    expect(seen.leases).toEqual([...model.values()].sort((a, b) => a.id.localeCompare(b.id)));
    for (const name of Object.keys(FEATURES) as FeatureName[]) {
      const inUse = [...model.values()].filter((l) => l.feature === name).reduce((n, l) => n + l.count, 0);
      expect(seen.usage.find((u) => u.name === name)?.inUse).toBe(inUse);
      expect(inUse).toBeLessThanOrEqual(FEATURES[name].seats);
    }
  }

  function expectErrorBody(r: Res, what: string): { code: string; message: string } {
    expect(r.headers['content-type'], what).toMatch(/^application\/json/);
    const body = JSON.parse(r.text) as { code: string; message: string };
    expect(ERROR_CODES as readonly string[], what).toContain(body.code);
    expect(typeof body.message, what).toBe('string');
    expect(body.message.length, what).toBeGreaterThan(0);
    return body;
  }

  /** The answer the server must give to a valid operation, from the model alone. */
  function predictCheckout(model: Model, op: Extract<Op, { kind: 'checkout' }>): number {
    const f = FEATURES[op.feature as FeatureName] as { seats: number; maxPerUser?: number } | undefined;
    if (!f) return 404;
    const held = [...model.values()];
    if (held.some((l) => l.clientId === op.clientId && l.feature === op.feature)) return 200;
    if (op.count > f.seats) return 409;
    const byUser = held
      .filter((l) => l.feature === op.feature && l.user === op.user)
      .reduce((n, l) => n + l.count, 0);
    if (f.maxPerUser !== undefined && byUser + op.count > f.maxPerUser) return 409;
    const inUse = held.filter((l) => l.feature === op.feature).reduce((n, l) => n + l.count, 0);
    return f.seats - inUse >= op.count ? 200 : 409;
  }

  beforeAll(async () => {
    fx = makeFixture([
      feature('synth', FEATURES.synth.seats),
      feature('sim', FEATURES.sim.seats, { maxPerUser: 1 }),
    ]);
    const clientTokenFile = path.join(fx.dir, 'client-token');
    fs.writeFileSync(clientTokenFile, 'client-secret\n');
    tokens = { admin: fx.token, client: 'client-secret' };
    s = await startServer(testConfig(fx, { clientTokenFile, leaseTtlMs: 3_600_000 }));
    const r = await send({
      port: 'admin',
      method: 'POST',
      path: '/v1/admin/promote',
      headers: jsonHeaders(tokens.admin),
      body: json({ epoch: 1 }),
    });
    expect(r.status).toBe(200);
  });
  afterAll(async () => {
    agent.destroy();
    await s.close();
    fx.cleanup();
  });

  /** Send bytes on a new connection, half-close it, and read until the server closes. */
  function rawExchange(port: Port, bytes: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(s.ports[port], '127.0.0.1');
      const chunks: Buffer[] = [];
      const t = setTimeout(() => {
        sock.destroy();
        reject(new Error(`no end of the answer in 5 s: ${Buffer.concat(chunks).toString().slice(0, 300)}`));
      }, 5000);
      sock.on('data', (c: Buffer) => chunks.push(c));
      // a reset after the answer (unread request bytes on the server's side) is fine
      sock.on('error', () => undefined);
      sock.on('close', () => {
        clearTimeout(t);
        resolve(Buffer.concat(chunks));
      });
      sock.end(bytes);
    });
  }

  /** Split a byte stream into HTTP/1.1 responses (all of ours have a content-length). */
  function responses(data: Buffer): { status: number; headers: Record<string, string>; body: string }[] {
    const out: { status: number; headers: Record<string, string>; body: string }[] = [];
    let rest = data;
    while (rest.length > 0) {
      const end = rest.indexOf('\r\n\r\n');
      expect(end, `an HTTP response head in ${json(rest.toString().slice(0, 200))}`).toBeGreaterThan(0);
      const [line, ...fields] = rest.subarray(0, end).toString('latin1').split('\r\n');
      const m = /^HTTP\/1\.[01] (\d{3}) /.exec(line ?? '');
      expect(m, `a status line: ${json(line)}`).not.toBeNull();
      const headers: Record<string, string> = {};
      for (const f of fields) {
        const i = f.indexOf(':');
        headers[f.slice(0, i).trim().toLowerCase()] = f.slice(i + 1).trim();
      }
      const len = Number(headers['content-length'] ?? 0);
      out.push({ status: Number(m?.[1]), headers, body: rest.subarray(end + 4, end + 4 + len).toString() });
      rest = rest.subarray(end + 4 + len);
    }
    return out;
  }

  it('answers arbitrary bytes on the wire with a JSON 4xx (or a plain answer to a harmless GET)', async () => {
    const token = fc.string({ minLength: 1, maxLength: 10 }).map((x) => x.replace(/[\s]/g, '_'));
    const method = fc.oneof(
      fc.constantFrom('GET', 'POST', 'DELETE', 'FOO', 'get', 'CONNECT', 'PRI', ''),
      token,
    );
    const target = fc.oneof(
      fc.constantFrom(
        '/v1/checkout',
        '/v1/features',
        '/v1/admin/promote',
        '/v1/admin/leases/1-1',
        '/healthz',
        '*',
        'http://x/v1/features',
        '//v1//features',
        '/v1/features?x=%ZZ',
        '/%',
      ),
      fc.string({ maxLength: 40 }),
    );
    const version = fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', 'HTTP/1.1x', '');
    const header = fc.oneof(
      fc.constantFrom(
        'host: x',
        'content-length: 5',
        'content-length: -1',
        'content-length: 1e3',
        'content-length: 99999999999999999999',
        'content-length: 3\r\ncontent-length: 4',
        'transfer-encoding: chunked',
        'transfer-encoding: gzip, chunked',
        'transfer-encoding: identity',
        'transfer-encoding: chunked\r\ncontent-length: 3',
        'content-type: application/json',
        'content-type: application/json; charset=utf-7',
        'content-encoding: deflate',
        'expect: 100-continue',
        'upgrade: lsp-replication/1\r\nconnection: upgrade',
        'upgrade: websocket\r\nconnection: upgrade',
        'authorization: Bearer',
        ' folded: header',
        `x-big: ${'a'.repeat(20_000)}`,
      ),
      fc.tuple(fc.string({ maxLength: 20 }), fc.string({ maxLength: 60 })).map(([k, v]) => `${k}: ${v}`),
    );
    const body = fc.oneof(
      fc.constantFrom(
        '',
        '{}',
        '{"epoch":9999,"force":true}',
        '0\r\n\r\n',
        '5\r\nhello\r\n0\r\n\r\n',
        'zz\r\n',
      ),
      fc.string({ maxLength: 100 }),
      fc.uint8Array({ maxLength: 100 }).map((a) => Buffer.from(a).toString('latin1')),
    );
    const before = await observe();
    let answered = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Port>('licences', 'admin', 'metrics'),
        method,
        target,
        version,
        fc.array(header, { maxLength: 5 }),
        body,
        async (port, m, t, v, hs, b) => {
          const text = `${m} ${t} ${v}\r\n${hs.map((h) => `${h}\r\n`).join('')}\r\n${b}`;
          const what = json(text.slice(0, 300));
          const all = responses(await rawExchange(port, Buffer.from(text, 'latin1')));
          for (const r of all) {
            answered += 1;
            expect(r.status, what).toBeLessThan(500);
            if (r.status === 101) break; // the replication stream took the connection
            if (r.status >= 400) {
              expect(r.headers['content-type'], what).toMatch(/^application\/json/);
              const e = JSON.parse(r.body) as { code: string; message: string };
              expect(ERROR_CODES as readonly string[], what).toContain(e.code);
              expect(e.message.length, what).toBeGreaterThan(0);
            }
          }
        },
      ),
      { numRuns: 400 },
    );
    expect(answered).toBeGreaterThan(200);
    // no token was ever right: nothing changed
    expect(await observe()).toEqual(before);
  }, 120_000);

  it('never answers 5xx, answers every refusal with a JSON code, and a refusal changes nothing', async () => {
    let requests = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(validOp, badOp), { minLength: 1, maxLength: 30, size: 'medium' }),
        async (ops) => {
          // every run starts from no leases
          for (const l of (await observe()).leases) {
            const r = await send({
              port: 'admin',
              method: 'DELETE',
              path: `/v1/admin/leases/${l.id}`,
              headers: { authorization: `Bearer ${tokens.admin}` },
            });
            expect(r.status).toBe(200);
          }
          const model: Model = new Map();
          for (const op of ops) {
            const before = await observe();
            expectModel(model, before);
            let req: Req;
            let expected: number | undefined;
            let lease: ModelLease | undefined;
            const held = [...model.values()];
            if (op.kind === 'checkout') {
              expected = predictCheckout(model, op);
              const { kind: _k, ...b } = op;
              req = {
                port: 'licences',
                method: 'POST',
                path: '/v1/checkout',
                headers: jsonHeaders(tokens.client),
                body: json(b),
              };
            } else if (op.kind === 'renew' || op.kind === 'release') {
              lease = held.length ? held[op.pick % held.length] : undefined;
              const leaseId = lease?.id ?? `9-${op.pick}`;
              const clientId = op.otherClient || !lease ? `${lease?.clientId ?? 'c'}-other` : lease.clientId;
              expected = lease && !op.otherClient ? 200 : 404;
              req = {
                port: 'licences',
                method: 'POST',
                path: `/v1/${op.kind}`,
                headers: jsonHeaders(tokens.client),
                body: json({ leaseId, clientId }),
              };
            } else if (op.kind === 'revoke') {
              lease = held.length ? held[op.pick % held.length] : undefined;
              expected = lease ? 200 : 404;
              req = {
                port: 'admin',
                method: 'DELETE',
                path: `/v1/admin/leases/${lease?.id ?? `9-${op.pick}`}`,
                headers: { authorization: `Bearer ${tokens.admin}` },
              };
            } else {
              req = op.req(tokens);
            }
            const what = op.kind === 'bad' ? op.why : `${op.kind} ${json(op)}`;
            const r = await send(req);
            requests += 1;
            expect(r.status, what).toBeLessThan(500);
            if (expected !== undefined) expect(r.status, `${what}: ${r.text}`).toBe(expected);
            if (op.kind === 'bad') expect(r.status, `${what}: ${r.text}`).toBeGreaterThanOrEqual(400);
            if (r.status >= 400 && req.method !== 'HEAD') expectErrorBody(r, what);
            const after = await observe();
            if (r.status >= 400) {
              expect(after, `${what} was refused with ${r.status} but changed the state`).toEqual(before);
              continue;
            }
            // accepted: the model follows
            const body = JSON.parse(r.text) as { lease?: { id: string; existing: boolean } };
            if (op.kind === 'checkout' && body.lease && !body.lease.existing)
              model.set(body.lease.id, {
                id: body.lease.id,
                feature: op.feature,
                count: op.count,
                clientId: op.clientId,
                user: op.user,
              });
            if ((op.kind === 'release' || op.kind === 'revoke') && lease) model.delete(lease.id);
            expectModel(model, after);
            expect(after.seq, what).toBeGreaterThan(before.seq);
          }
        },
      ),
      { numRuns: 100, endOnFailure: true },
    );
    // the server still answers, and the run did what it says
    expect((await send({ port: 'admin', method: 'GET', path: '/healthz' })).status).toBe(200);
    expect(requests).toBeGreaterThan(500);
  }, 120_000);
});

describe('the body limit setting', () => {
  const env = { LS_PAIR_ID: 'a/b', LS_ALLOW_NO_TOKEN: 'true', LS_LICENSE_FILE: 'l', LS_PUBLIC_KEY_FILE: 'k' };
  it('is read as the JSON parser reads it, and a value that is not a size stops the start', () => {
    expect(byteSize('16kb')).toBe(16_384);
    expect(byteSize('1.5MB')).toBe(1_572_864);
    expect(byteSize('512')).toBe(512);
    expect(configFromEnv({ ...env, LS_BODY_LIMIT: '64kb' }).bodyLimit).toBe('64kb');
    // the JSON parser would take an unparsable limit as no limit at all
    for (const bad of ['16 kilobytes', 'kb', '-1kb', '1e6'])
      expect(() => configFromEnv({ ...env, LS_BODY_LIMIT: bad })).toThrow(ConfigError);
  });
});
