// The licences port: the lease API for clients (checkout, renew, release, features), with a
// path without express for well-formed lease calls that gives the same answers.
import type http from 'node:http';
import type { Express } from 'express';
import { byteSize } from './config.ts';
import { HttpError, base, denial, finish, parse, requireToken, send, timedOut } from './http-common.ts';
import type { Answer, HttpOptions } from './http-common.ts';
import { openApiDocument } from './openapi.ts';
import { checkoutBody, leaseRefBody } from './protocol.ts';
import type { Member } from './server.ts';

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
