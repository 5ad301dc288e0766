// The HTTP shell: three express apps (licences, admin, metrics) over a Member.
// Every body is validated with zod; every error is a JSON {code, message} with a 4xx/5xx status.
import http from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import express from 'express';
import type { ErrorRequestHandler, Express, NextFunction, Request, RequestHandler, Response } from 'express';
import type { z } from 'zod';
import type { TokenSource } from './auth.ts';
import { byteSize } from './config.ts';
import { openApiDocument } from './openapi.ts';
import {
  DENIAL_STATUS,
  checkoutBody,
  demoteBody,
  grantBody,
  entriesQuery,
  leaseRefBody,
  promoteBody,
  streamAck,
  streamQuery,
} from './protocol.ts';
import { STREAM_PATH, STREAM_PROTOCOL } from './replication.ts';
import type { ErrorCode, ErrorJson } from './protocol.ts';
import type { Denial } from './ledger.ts';
import type { Member } from './server.ts';

export class HttpError extends Error {
  override name = 'HttpError';
  readonly status: number;
  readonly code: ErrorCode;
  constructor(status: number, code: ErrorCode, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export type HttpOptions = {
  bodyLimit: string;
  requestTimeoutMs: number;
  /** admin + replication; undefined: no token required (local experiments only) */
  adminTokens: TokenSource | undefined;
  /** client endpoints; undefined: open */
  clientTokens: TokenSource | undefined;
};

function parse<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const r = schema.safeParse(value);
  if (!r.success) {
    const detail = r.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.length ? i.path.join('.') : 'body'}: ${i.message}`)
      .join('; ');
    throw new HttpError(400, 'BAD_REQUEST', `invalid request: ${detail}`);
  }
  return r.data;
}

function sendError(res: Response, status: number, body: ErrorJson): void {
  if (res.headersSent) return;
  res.status(status).json(body);
}

/** A status and JSON body to send; `close`: end the connection after it. */
type Answer = { status: number; body: unknown; close?: boolean };

function send(res: Response, a: Answer): void {
  if (res.headersSent) return;
  if (a.close) res.set('connection', 'close');
  res.status(a.status).json(a.body);
}

function denial(member: Member, d: Denial): Answer {
  const body: ErrorJson = { code: d.code, message: d.message };
  if (d.code === 'NO_QUORUM') {
    // Retryable: the client tries again, on a new connection so that it follows the Service to
    // whichever member serves by then.
    const other = member.otherActiveAddress;
    if (other) body.active = other;
    return { status: DENIAL_STATUS[d.code], body, close: true };
  }
  if (d.code !== 'NOT_ACTIVE') return { status: DENIAL_STATUS[d.code], body };
  body.active = member.activeAddress;
  // A client reaching a standby through the pair's Service holds a connection that conntrack
  // keeps on this pod after a switchover: close it, so its next request follows the Service.
  return { status: DENIAL_STATUS[d.code], body, close: true };
}

function sendDenial(res: Response, member: Member, d: Denial): void {
  send(res, denial(member, d));
}

function timeout(ms: number): RequestHandler {
  return (req, res, next) => {
    if (req.path.startsWith('/v1/replication/')) return next();
    const t = setTimeout(() => {
      const a = timedOut(req, ms);
      if (a.close) res.set('connection', 'close');
      sendError(res, a.status, a.body);
    }, ms);
    res.on('close', () => clearTimeout(t));
    next();
  };
}

/** The answer to a request that is not done after the request timeout. */
function timedOut(req: IncomingMessage, ms: number): Answer & { body: ErrorJson } {
  // A body still arriving is the client's doing (a slow or stalled upload): 408, and the
  // connection goes, so the rest of that body is never read.
  if (!req.complete)
    return {
      status: 408,
      body: { code: 'TIMEOUT', message: `the request body was not received within ${ms} ms` },
      close: true,
    };
  return { status: 503, body: { code: 'TIMEOUT', message: `the request took longer than ${ms} ms` } };
}

function requireToken(tokens: TokenSource | undefined): RequestHandler {
  return (req, _res, next) => {
    if (tokens && !tokens.check(req.headers.authorization))
      throw new HttpError(
        401,
        'UNAUTHORIZED',
        'missing or wrong bearer token (Authorization: Bearer <token>)',
      );
    next();
  };
}

const errorHandler =
  (member: Member): ErrorRequestHandler =>
  (err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = err as { type?: string; status?: number; message?: string };
    if (err instanceof HttpError) return sendError(res, err.status, { code: err.code, message: err.message });
    if (e.type === 'entity.too.large')
      return sendError(res, 413, {
        code: 'PAYLOAD_TOO_LARGE',
        message: `request body too large: ${e.message}`,
      });
    if (e.type === 'entity.parse.failed')
      return sendError(res, 400, {
        code: 'BAD_REQUEST',
        message: `request body is not valid JSON: ${e.message}`,
      });
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500)
      return sendError(res, e.status, { code: 'BAD_REQUEST', message: e.message ?? 'bad request' });
    member.log.error({ err }, 'request failed');
    sendError(res, 500, { code: 'INTERNAL', message: 'internal error; see the server log' });
  };

// HTTP/1.1 requires a Host header; node's own check answers without the JSON body (main.ts turns
// it off), so the same refusal is made here.
const requireHost: RequestHandler = (req, res, next) => {
  if (req.httpVersionMajor === 1 && req.httpVersionMinor === 1 && !req.headers.host)
    return sendError(res, 400, { code: 'BAD_REQUEST', message: 'an HTTP/1.1 request needs a Host header' });
  next();
};

function base(opts: HttpOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(requireHost);
  app.use(timeout(opts.requestTimeoutMs));
  // The JSON parser reads a body over the limit to its end (throwing it away) before it answers
  // 413, so that a client still sending does not lose the answer to a reset; a body that never
  // ends is cut off by the request timeout (408).
  app.use(express.json({ limit: byteSize(opts.bodyLimit) }));
  return app;
}

function finish(app: Express, member: Member): Express {
  app.use((req, res) => {
    sendError(res, 404, { code: 'NOT_FOUND', message: `no route ${req.method} ${req.path}` });
  });
  app.use(errorHandler(member));
  return app;
}

/** The licences port: the lease API for clients. */
export function clientApp(member: Member, opts: HttpOptions): Express {
  const app = base(opts);
  const auth = requireToken(opts.clientTokens);
  app.get('/v1/openapi.json', (_req, res) => {
    res.json(openApiDocument);
  });
  for (const route of LEASE_ROUTES)
    app.post(route, auth, async (req, res) => {
      send(res, await leaseCall(member, route, req.body));
    });
  app.get('/v1/features', auth, (_req, res) => {
    res.json({ role: member.role, features: member.features() });
  });
  return finish(app, member);
}

const LEASE_ROUTES = ['/v1/checkout', '/v1/renew', '/v1/release'] as const;
type LeaseRoute = (typeof LEASE_ROUTES)[number];

/** A call of the lease API with its (parsed, not yet validated) JSON body. */
async function leaseCall(member: Member, route: LeaseRoute, raw: unknown): Promise<Answer> {
  if (route === '/v1/checkout') {
    const r = await member.checkout(parse(checkoutBody, raw));
    if (!r.ok) return denial(member, r);
    return { status: 200, body: { lease: member.leaseJson(r.lease, r.existing) } };
  }
  const body = parse(leaseRefBody, raw);
  if (route === '/v1/renew') {
    const r = await member.renew(body.leaseId, body.clientId);
    if (!r.ok) {
      const feature = member.leases().find((l) => l.id === body.leaseId)?.feature ?? '(unknown)';
      if (r.code !== 'NOT_ACTIVE') member.recordDenial(feature, r.code);
      return denial(member, r);
    }
    return { status: 200, body: { lease: member.leaseJson(r.lease, true) } };
  }
  const r = await member.release(body.leaseId, body.clientId);
  if (!r.ok) return denial(member, r);
  return { status: 200, body: { released: true, leaseId: r.lease.id } };
}

const JSON_WHITESPACE = /^[ \t\n\r]*([^ \t\n\r])/;

/**
 * A request body as express.json() reads it (strict): a leading BOM is dropped, an empty body is
 * {}, and only an object or an array is accepted; a SyntaxError's message is the one it gives.
 */
function parseJsonBody(text: string): unknown {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (body.length === 0) return {};
  const first = JSON_WHITESPACE.exec(body)?.[1];
  if (first === '{' || first === '[') return JSON.parse(body);
  // the message JSON.parse gives for the first character (express.json's own strict check)
  const at = first === undefined ? -1 : body.indexOf(first);
  try {
    JSON.parse(at < 0 ? '' : body.slice(0, at) + '#'.repeat(body.length - at));
  } catch (err) {
    throw new SyntaxError(
      (err as Error).message.replace(/#+/g, (hashes) => body.slice(at, at + hashes.length)),
      { cause: err },
    );
  }
  throw new SyntaxError('strict violation');
}

/**
 * The licences port's request handler. Checkout, renew and release are the hot path: a request
 * to one of them that is plainly well-formed (a JSON body of a declared length within the
 * limit, no content or transfer encoding, a Host header, the client token when one is required)
 * is answered here without express, whose routing and body parsing cost about as much CPU as
 * the call itself. Everything else (and every refusal those checks would make) goes to
 * clientApp, so edge cases have one implementation; the answers of both are the same.
 */
export function clientHandler(member: Member, opts: HttpOptions): http.RequestListener {
  const app = clientApp(member, opts);
  const limit = byteSize(opts.bodyLimit);
  const ms = opts.requestTimeoutMs;
  const routes = new Set<string>(LEASE_ROUTES);
  const reply = (res: http.ServerResponse, a: Answer): void => {
    if (res.headersSent) return;
    const text = JSON.stringify(a.body);
    const headers: http.OutgoingHttpHeaders = {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
    };
    if (a.close) headers.connection = 'close';
    res.writeHead(a.status, headers);
    res.end(text);
  };
  const failed = (err: unknown): Answer => {
    if (err instanceof HttpError)
      return { status: err.status, body: { code: err.code, message: err.message } };
    member.log.error({ err }, 'request failed');
    return { status: 500, body: { code: 'INTERNAL', message: 'internal error; see the server log' } };
  };
  return (req, res) => {
    const h = req.headers;
    const length = h['content-length'];
    const type = h['content-type']?.toLowerCase().replaceAll(' ', '');
    if (
      req.method !== 'POST' ||
      !routes.has(req.url ?? '') ||
      !h.host ||
      (type !== 'application/json' && type !== 'application/json;charset=utf-8') ||
      length === undefined ||
      !/^[1-9]\d{0,8}$/.test(length) ||
      Number(length) > limit ||
      h['content-encoding'] !== undefined ||
      h['transfer-encoding'] !== undefined ||
      (opts.clientTokens !== undefined && !opts.clientTokens.check(h.authorization))
    )
      return void app(req, res);
    const route = req.url as LeaseRoute;
    const timer = setTimeout(() => reply(res, timedOut(req, ms)), ms);
    res.on('close', () => clearTimeout(timer));
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      let raw: unknown;
      try {
        raw = parseJsonBody(
          (chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)).toString('utf8'),
        );
      } catch (err) {
        const message = `request body is not valid JSON: ${(err as Error).message}`;
        reply(res, { status: 400, body: { code: 'BAD_REQUEST', message } });
        return;
      }
      leaseCall(member, route, raw).then(
        (a) => reply(res, a),
        (err: unknown) => reply(res, failed(err)),
      );
    });
  };
}

/** The admin port: health, status, roles, leases, licence reload, replication. */
export function adminApp(member: Member, opts: HttpOptions): Express {
  const app = base(opts);
  const auth = requireToken(opts.adminTokens);
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    const r = member.ready();
    res.status(r.ready ? 200 : 503).json({ ready: r.ready, role: member.role, reason: r.reason });
  });
  app.get('/v1/openapi.json', (_req, res) => {
    res.json(openApiDocument);
  });
  app.get('/v1/status', auth, (_req, res) => {
    res.json(member.status());
  });
  // The operator's solo grant (R3, docs/reliability.md); answered with the status, so that it
  // doubles as the health check that would otherwise be sent.
  app.post('/v1/admin/grant', auth, (req, res) => {
    const body = parse(grantBody, req.body);
    const r = member.grant(body);
    if (!r.ok)
      return sendError(res, r.status, {
        code: r.code as ErrorCode,
        message: r.message,
        status: member.status(),
      });
    res.json(member.status());
  });
  app.post('/v1/admin/promote', auth, async (req, res) => {
    const body = parse(promoteBody, req.body);
    const r = await member.promote(body.epoch, body.force, body.grant);
    if (!r.ok) return sendError(res, r.status, { code: r.code as ErrorCode, message: r.message });
    res.json({ role: r.role, epoch: r.epoch });
  });
  app.post('/v1/admin/demote', auth, async (req, res) => {
    const body = parse(demoteBody, req.body);
    const r = await member.demote(body.epoch);
    if (!r.ok) return sendError(res, r.status, { code: r.code as ErrorCode, message: r.message });
    res.json({ role: r.role, epoch: r.epoch });
  });
  app.post('/v1/admin/reload-license', auth, (_req, res) => {
    const r = member.reloadLicence('admin request');
    if (!r.ok) return sendError(res, 422, { code: 'LICENSE_INVALID', message: r.message });
    res.json({ loaded: true, message: r.message });
  });
  app.get('/v1/admin/leases', auth, (req, res) => {
    const feature = typeof req.query.feature === 'string' ? req.query.feature : undefined;
    const leases = member
      .leases()
      .filter((l) => feature === undefined || l.feature === feature)
      .map((l) => ({ ...member.leaseJson(l, true), lingering: l.lingering }));
    res.json({ role: member.role, leases });
  });
  app.delete('/v1/admin/leases/:id', auth, async (req, res) => {
    const id = String(req.params.id);
    const r = await member.revoke(id);
    if (!r.ok) return sendDenial(res, member, r);
    res.json({ revoked: true, leaseId: id });
  });
  app.get('/v1/replication/snapshot', auth, (_req, res) => {
    const r = member.snapshotForPeer();
    if ('ok' in r) return sendError(res, r.status, { code: r.code as ErrorCode, message: r.message });
    res.json(r);
  });
  app.get('/v1/replication/entries', auth, (req, res) => {
    const q = parse(entriesQuery, req.query);
    let done = false;
    const r = member.entriesForPeer(q, (json) => {
      if (done) return;
      done = true;
      res.type('json').send(json);
    });
    if (!r.ok) return sendError(res, r.status, { code: r.code as ErrorCode, message: r.message });
    res.on('close', () => {
      if (!done) {
        done = true;
        r.cancel();
      }
    });
  });
  app.get(STREAM_PATH, auth, (req, res) => {
    parse(streamQuery, req.query);
    res.set('upgrade', STREAM_PROTOCOL);
    sendError(res, 426, {
      code: 'BAD_REQUEST',
      message: `the replication stream needs "Connection: Upgrade" and "Upgrade: ${STREAM_PROTOCOL}"`,
    });
  });
  return finish(app, member);
}

/**
 * The replication stream on the admin port: GET /v1/replication/stream with
 * `Upgrade: lsp-replication/1` becomes a raw connection (101 Switching Protocols) that carries
 * entries and heartbeats to the standby and its acks back (see replication.ts). Not an express
 * route: wire `shouldUpgrade` into the server's `shouldUpgradeCallback` and `upgrade` into its
 * 'upgrade' event; `close()` ends the streams (upgraded sockets are no longer the server's).
 */
export function replicationStream(
  member: Member,
  opts: HttpOptions,
): {
  shouldUpgrade: (req: IncomingMessage) => boolean;
  upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  close: () => void;
} {
  const sockets = new Set<Duplex>();
  const reply = (socket: Duplex, status: number, body: ErrorJson): void => {
    const text = JSON.stringify(body);
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\n` +
        `content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(text)}\r\n` +
        `connection: close\r\n\r\n${text}`,
    );
  };
  return {
    shouldUpgrade: (req) =>
      req.method === 'GET' &&
      req.headers.upgrade?.toLowerCase() === STREAM_PROTOCOL &&
      (req.url ?? '').split('?')[0] === STREAM_PATH,
    upgrade(req, socket, head) {
      socket.on('error', () => socket.destroy());
      if (opts.adminTokens && !opts.adminTokens.check(req.headers.authorization))
        return reply(socket, 401, {
          code: 'UNAUTHORIZED',
          message: 'missing or wrong bearer token (Authorization: Bearer <token>)',
        });
      let q: z.infer<typeof streamQuery>;
      try {
        q = parse(streamQuery, Object.fromEntries(new URL(req.url ?? '', 'http://x').searchParams));
      } catch (err) {
        const e = err as HttpError;
        return reply(socket, e.status, { code: e.code, message: e.message });
      }
      let started = false;
      const r = member.streamForPeer(q, {
        write: (text) => {
          if (started) return socket.write(text);
          started = true;
          return socket.write(
            `HTTP/1.1 101 Switching Protocols\r\nupgrade: ${STREAM_PROTOCOL}\r\nconnection: Upgrade\r\n\r\n${text}`,
          );
        },
        end: () => socket.end(),
      });
      if (!r.ok) return reply(socket, r.status, { code: r.code as ErrorCode, message: r.message });
      sockets.add(socket);
      if ('setNoDelay' in socket && typeof socket.setNoDelay === 'function') socket.setNoDelay(true);
      // The token was checked once; a rotated-out token must not keep a stream open past its
      // grace period (the standby reconnects with its current token).
      const authorization = req.headers.authorization;
      const recheck = setInterval(() => {
        if (opts.adminTokens && !opts.adminTokens.check(authorization)) socket.destroy();
      }, 1000);
      recheck.unref();
      const decoder = new StringDecoder('utf8');
      let pending = '';
      const onData = (chunk: Buffer): void => {
        pending += decoder.write(chunk);
        const nl = pending.lastIndexOf('\n');
        if (nl < 0) {
          if (pending.length > 4096) socket.destroy();
          return;
        }
        const lines = pending.slice(0, nl).split('\n');
        pending = pending.slice(nl + 1);
        // acks are cumulative: the last of a chunk says it all (the epoch: the highest)
        let ack = -1;
        let epoch = 0;
        let hb: number | undefined;
        for (const line of lines) {
          if (!line) continue;
          let a: z.infer<typeof streamAck>;
          try {
            a = streamAck.parse(JSON.parse(line));
          } catch {
            socket.destroy();
            return;
          }
          ack = Math.max(ack, a.ack);
          epoch = Math.max(epoch, a.epoch);
          if (a.hb !== undefined) hb = Math.max(hb ?? 0, a.hb);
        }
        if (ack >= 0) r.ack(ack, epoch, hb);
      };
      socket.on('data', onData);
      socket.on('drain', () => r.handle.drained());
      socket.on('close', () => {
        clearInterval(recheck);
        sockets.delete(socket);
        r.handle.close();
      });
      if (socket.destroyed) {
        clearInterval(recheck);
        sockets.delete(socket);
        r.handle.close();
        return;
      }
      if (head.length > 0) onData(head);
    },
    close() {
      for (const s of sockets) s.destroy();
    },
  };
}

/**
 * A request node's HTTP parser refuses (bad request line or method, headers too large, headers or
 * body not received in time) gets the same JSON error body as any other refusal. Wire it into each
 * server's 'clientError' event.
 */
export function clientError(err: Error & { code?: string }, socket: Duplex): void {
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const [status, code, message]: [number, ErrorCode, string] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'TIMEOUT', 'the request was not received in time']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'BAD_REQUEST', 'the request headers are too large']
        : err.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW'
          ? [413, 'PAYLOAD_TOO_LARGE', 'the chunk extensions are too large']
          : [400, 'BAD_REQUEST', `malformed HTTP request (${err.code ?? err.message})`];
  const text = JSON.stringify({ code, message } satisfies ErrorJson);
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\n` +
      `content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(text)}\r\n` +
      `connection: close\r\n\r\n${text}`,
    () => socket.destroy(),
  );
}

/** The metrics port. */
export function metricsApp(member: Member): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(requireHost);
  app.get('/metrics', async (_req, res) => {
    res.set('content-type', member.metrics.registry.contentType);
    res.send(await member.metrics.registry.metrics());
  });
  return finish(app, member);
}

/** Routes registered on an app, as [METHOD, OpenAPI-style path] (for the OpenAPI check). */
export function registeredRoutes(app: Express): [string, string][] {
  const out: [string, string][] = [];
  const stack = (
    app as unknown as { router: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] } }
  ).router.stack;
  for (const layer of stack) {
    if (!layer.route) continue;
    for (const m of Object.keys(layer.route.methods))
      out.push([m.toUpperCase(), layer.route.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')]);
  }
  return out;
}
