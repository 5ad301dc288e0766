// What the licence server's HTTP apps share: the JSON refusals ({code, message} with a 4xx/5xx
// status, also for what node's HTTP parser refuses), zod validation of bodies and queries, the
// token check, the request timeout, and how every express app begins and ends.
import http from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import express from 'express';
import type { ErrorRequestHandler, Express, NextFunction, Request, RequestHandler, Response } from 'express';
import type { z } from 'zod';
import type { TokenSource } from './auth.ts';
import type { Caller, CallerCheck } from './tls-access.ts';
import { byteSize } from './config.ts';
import { DENIAL_STATUS } from './protocol.ts';
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
  /** the admin port serves TLS: who may call which route, by client certificate (tls-access.ts) */
  callers?: CallerCheck | undefined;
};

export function parse<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
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

export function sendError(res: Response, status: number, body: ErrorJson): void {
  if (res.headersSent) return;
  res.status(status).json(body);
}

/** A status and JSON body to send; `close`: end the connection after it. */
export type Answer = { status: number; body: unknown; close?: boolean };

export function send(res: Response, a: Answer): void {
  if (res.headersSent) return;
  if (a.close) res.set('connection', 'close');
  res.status(a.status).json(a.body);
}

export function denial(member: Member, d: Denial): Answer {
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

export function sendDenial(res: Response, member: Member, d: Denial): void {
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
export function timedOut(req: IncomingMessage, ms: number): Answer & { body: ErrorJson } {
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

export function requireToken(tokens: TokenSource | undefined): RequestHandler {
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

/**
 * An admin route open to `caller`: its client certificate when the port serves TLS
 * (tls-access.ts), then the admin token.
 */
export function requireCaller(opts: HttpOptions, caller: Caller): RequestHandler {
  const token = requireToken(opts.adminTokens);
  return (req, res, next) => {
    if (opts.callers) {
      const v = opts.callers.judge(req, caller);
      if (!v.ok) throw new HttpError(v.status, v.code, v.message);
    }
    token(req, res, next);
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
export const requireHost: RequestHandler = (req, res, next) => {
  if (req.httpVersionMajor === 1 && req.httpVersionMinor === 1 && !req.headers.host)
    return sendError(res, 400, { code: 'BAD_REQUEST', message: 'an HTTP/1.1 request needs a Host header' });
  next();
};

export function base(opts: HttpOptions): Express {
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

export function finish(app: Express, member: Member): Express {
  app.use((req, res) => {
    sendError(res, 404, { code: 'NOT_FOUND', message: `no route ${req.method} ${req.path}` });
  });
  app.use(errorHandler(member));
  return app;
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
