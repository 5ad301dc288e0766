// The HTTP shell: three express apps (licences, admin, metrics) over a Member.
// Every body is validated with zod; every error is a JSON {code, message} with a 4xx/5xx status.
import express from 'express';
import type { ErrorRequestHandler, Express, NextFunction, Request, RequestHandler, Response } from 'express';
import type { z } from 'zod';
import type { TokenSource } from './auth.ts';
import { openApiDocument } from './openapi.ts';
import {
  DENIAL_STATUS,
  checkoutBody,
  demoteBody,
  entriesQuery,
  leaseRefBody,
  promoteBody,
} from './protocol.ts';
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

function sendDenial(res: Response, member: Member, d: Denial): void {
  const body: ErrorJson = { code: d.code, message: d.message };
  if (d.code === 'NOT_ACTIVE') {
    body.active = member.activeAddress;
    // A client reaching a standby through the pair's Service holds a connection that conntrack
    // keeps on this pod after a switchover: close it, so its next request follows the Service.
    res.set('connection', 'close');
  }
  sendError(res, DENIAL_STATUS[d.code], body);
}

function timeout(ms: number): RequestHandler {
  return (req, res, next) => {
    if (req.path.startsWith('/v1/replication/')) return next();
    const t = setTimeout(() => {
      sendError(res, 503, { code: 'TIMEOUT', message: `the request took longer than ${ms} ms` });
    }, ms);
    res.on('close', () => clearTimeout(t));
    next();
  };
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

function base(opts: HttpOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(timeout(opts.requestTimeoutMs));
  app.use(express.json({ limit: opts.bodyLimit }));
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
  app.post('/v1/checkout', auth, async (req, res) => {
    const body = parse(checkoutBody, req.body);
    const r = await member.checkout(body);
    if (!r.ok) return sendDenial(res, member, r);
    res.json({ lease: member.leaseJson(r.lease, r.existing) });
  });
  app.post('/v1/renew', auth, async (req, res) => {
    const body = parse(leaseRefBody, req.body);
    const r = await member.renew(body.leaseId, body.clientId);
    if (!r.ok) {
      const feature = member.leases().find((l) => l.id === body.leaseId)?.feature ?? '(unknown)';
      if (r.code !== 'NOT_ACTIVE') member.recordDenial(feature, r.code);
      return sendDenial(res, member, r);
    }
    res.json({ lease: member.leaseJson(r.lease, true) });
  });
  app.post('/v1/release', auth, async (req, res) => {
    const body = parse(leaseRefBody, req.body);
    const r = await member.release(body.leaseId, body.clientId);
    if (!r.ok) return sendDenial(res, member, r);
    res.json({ released: true, leaseId: r.lease.id });
  });
  app.get('/v1/features', auth, (_req, res) => {
    res.json({ role: member.role, features: member.features() });
  });
  return finish(app, member);
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
  app.post('/v1/admin/promote', auth, async (req, res) => {
    const body = parse(promoteBody, req.body);
    const r = await member.promote(body.epoch, body.force);
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
    const r = member.entriesForPeer(q, (body) => {
      if (done) return;
      done = true;
      res.json(body);
    });
    if (!r.ok) return sendError(res, r.status, { code: r.code as ErrorCode, message: r.message });
    res.on('close', () => {
      if (!done) {
        done = true;
        r.cancel();
      }
    });
  });
  return finish(app, member);
}

/** The metrics port. */
export function metricsApp(member: Member): Express {
  const app = express();
  app.disable('x-powered-by');
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
