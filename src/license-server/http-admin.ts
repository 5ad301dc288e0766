// The admin port: health, status, roles, leases, licence reload, and the replication requests
// of the standby (the stream itself is upgraded in http-replication-stream.ts).
import type { Express } from 'express';
import { base, finish, parse, requireCaller, sendDenial, sendError } from './http-common.ts';
import type { HttpOptions } from './http-common.ts';
import { openApiDocument } from './openapi.ts';
import { waitForPeerSilence } from './peer-silence.ts';
import {
  STREAM_PATH,
  STREAM_PROTOCOL,
  demoteBody,
  entriesQuery,
  grantBody,
  promoteBody,
  statusQuery,
  streamQuery,
} from './protocol.ts';
import type { ErrorCode } from './protocol.ts';
import type { Member } from './server.ts';

/** The admin port: health, status, roles, leases, licence reload, replication. */
export function adminApp(member: Member, opts: HttpOptions): Express {
  const app = base(opts);
  const operator = requireCaller(opts, 'operator');
  const peer = requireCaller(opts, 'peer');
  const operatorOrPeer = requireCaller(opts, 'operator-or-peer');
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
  app.get('/v1/status', operatorOrPeer, async (req, res) => {
    const q = parse(statusQuery, req.query);
    // The wait ends before the request's own timeout would answer 503 instead.
    if (q.peerSilentMs !== undefined && q.waitMs !== undefined)
      await waitForPeerSilence(member.silenceSource, q.peerSilentMs, longestWaitMs(q.waitMs, opts), res);
    if (!res.writableEnded && !res.destroyed) res.json(member.status());
  });
  // The operator's solo grant (R3, docs/reliability.md); answered with the status, so that it
  // doubles as the health check that would otherwise be sent.
  app.post('/v1/admin/grant', operator, (req, res) => {
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
  app.post('/v1/admin/promote', operator, async (req, res) => {
    const body = parse(promoteBody, req.body);
    const r = await member.promote(body.epoch, body.force, {
      ...(body.grant ? { grant: body.grant } : {}),
      peerExited: body.peerExited,
    });
    if (!r.ok) return sendError(res, r.status, { code: r.code as ErrorCode, message: r.message });
    res.json({ role: r.role, epoch: r.epoch, ...(r.waitedMs !== undefined ? { waitedMs: r.waitedMs } : {}) });
  });
  app.post('/v1/admin/demote', operatorOrPeer, async (req, res) => {
    const body = parse(demoteBody, req.body);
    const r = await member.demote(body.epoch);
    if (!r.ok) return sendError(res, r.status, { code: r.code as ErrorCode, message: r.message });
    res.json({ role: r.role, epoch: r.epoch });
  });
  app.post('/v1/admin/reload-license', operator, (_req, res) => {
    const r = member.reloadLicence('admin request');
    if (!r.ok) return sendError(res, 422, { code: 'LICENSE_INVALID', message: r.message });
    res.json({ loaded: true, message: r.message });
  });
  app.get('/v1/admin/leases', operator, (req, res) => {
    const feature = typeof req.query.feature === 'string' ? req.query.feature : undefined;
    const leases = member
      .leases()
      .filter((l) => feature === undefined || l.feature === feature)
      .map((l) => ({ ...member.leaseJson(l, true), lingering: l.lingering }));
    res.json({ role: member.role, leases });
  });
  app.delete('/v1/admin/leases/:id', operator, async (req, res) => {
    const id = String(req.params.id);
    const r = await member.revoke(id);
    if (!r.ok) return sendDenial(res, member, r);
    res.json({ revoked: true, leaseId: id });
  });
  app.get('/v1/replication/snapshot', peer, (_req, res) => {
    const r = member.snapshotForPeer();
    if ('ok' in r) return sendError(res, r.status, { code: r.code as ErrorCode, message: r.message });
    res.json(r);
  });
  app.get('/v1/replication/entries', peer, (req, res) => {
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
  app.get(STREAM_PATH, peer, (req, res) => {
    parse(streamQuery, req.query);
    res.set('upgrade', STREAM_PROTOCOL);
    sendError(res, 426, {
      code: 'BAD_REQUEST',
      message: `the replication stream needs "Connection: Upgrade" and "Upgrade: ${STREAM_PROTOCOL}"`,
    });
  });
  return finish(app, member);
}

/** A status read's wait, within the request timeout (and half a second to answer). */
function longestWaitMs(waitMs: number, opts: HttpOptions): number {
  return Math.max(0, Math.min(waitMs, opts.requestTimeoutMs - 500));
}
