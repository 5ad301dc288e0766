// HTTP calls from the operator to a member: its health check, and for the reference server the
// status and role changes of docs/server-contract.md. Every call has a deadline; none throws.
import net from 'node:net';
import { afterPendingIo } from '../license-server/after-pending-io.ts';
import { request, type Answer } from './member-request.ts';
import { parseStatus } from './member-status-answer.ts';
import type { MemberAuth, MemberCallTls, MemberStatus, ProbeResult } from './member-wire.ts';

export async function httpCheck(url: string, timeoutMs: number, tls?: MemberCallTls): Promise<ProbeResult> {
  return (await timedCheck(url, { timeoutMs, tls }, (status) => status >= 200 && status < 400)).result;
}

function bearer(auth: MemberAuth): Record<string, string> {
  return auth.token ? { authorization: `Bearer ${auth.token}` } : {};
}

/** One request as a check: timed, passed when an answer came and `passes` its status. */
async function timedCheck(
  url: string,
  opts: { headers?: Record<string, string>; timeoutMs: number; tls?: MemberCallTls | undefined },
  passes: (status: number) => boolean,
): Promise<{ result: ProbeResult; answer: Answer }> {
  const started = performance.now();
  const answer = await request(url, opts);
  const latencyMs = performance.now() - started;
  const result =
    answer.error !== undefined
      ? { ok: false, latencyMs, message: answer.error }
      : { ok: passes(answer.status), latencyMs, message: `HTTP ${answer.status}` };
  return { result, answer };
}

export function tcpCheck(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean, message: string) => {
      socket.destroy();
      resolve({ ok, latencyMs: performance.now() - started, message });
    };
    socket.setTimeout(timeoutMs, () =>
      afterPendingIo(() => {
        if (!socket.connecting) return;
        done(false, `no connection within ${timeoutMs} ms`);
      }),
    );
    socket.once('connect', () => done(true, 'connected'));
    socket.once('error', (err) => done(false, err.message));
  });
}

export async function readStatus(
  baseUrl: string,
  auth: MemberAuth,
  timeoutMs: number,
  query = '',
): Promise<MemberStatus | undefined> {
  return (await statusCheck(baseUrl, auth, timeoutMs, query)).status;
}

/**
 * The standby's status, answered once it has heard nothing from its active for `silentMs`, or after
 * `waitMs` (detection.ts). Not a health check: undefined when no status came back.
 */
export async function readStatusOnPeerSilence(
  baseUrl: string,
  auth: MemberAuth,
  silentMs: number,
  waitMs: number,
  timeoutMs: number,
): Promise<MemberStatus | undefined> {
  return readStatus(baseUrl, auth, waitMs + timeoutMs, `?peerSilentMs=${silentMs}&waitMs=${waitMs}`);
}

/**
 * The reference server's status read as its health check too, in one request: any HTTP answer
 * below 500 from the admin port passes (a refused token is a live server with a wrong token),
 * as a 2xx–3xx from /healthz on that port would. For a check at the contract's defaults (HTTP,
 * /healthz, admin port) this halves the operator's requests to its members.
 */
export async function statusCheck(
  baseUrl: string,
  auth: MemberAuth,
  timeoutMs: number,
  query = '',
): Promise<{ result: ProbeResult; status?: MemberStatus }> {
  const { result, answer } = await timedCheck(
    `${baseUrl}/v1/status${query}`,
    { timeoutMs, headers: bearer(auth), tls: auth.tls },
    (status) => status >= 200 && status < 500,
  );
  const ok2xx = answer.error === undefined && answer.status >= 200 && answer.status < 300;
  const status = ok2xx ? parseStatus(answer.body) : undefined;
  return status ? { result, status } : { result };
}

/**
 * The operator's solo grant to the live member (R3 of docs/reliability.md; `ms` 0 ends the
 * grants, R6), answered with its status; a refused grant (another epoch, an unknown anchor)
 * carries the status too. Not a health check: no status when none came back.
 */
export async function sendGrant(
  baseUrl: string,
  auth: MemberAuth,
  timeoutMs: number,
  grant: { epoch: number; anchor: number; ms: number },
): Promise<{ accepted: boolean; status?: MemberStatus }> {
  const answer = await request(`${baseUrl}/v1/admin/grant`, {
    timeoutMs,
    method: 'POST',
    body: JSON.stringify(grant),
    headers: { 'content-type': 'application/json', ...bearer(auth) },
    tls: auth.tls,
  });
  const withStatus = (accepted: boolean, status: MemberStatus | undefined) =>
    status ? { accepted, status } : { accepted };
  if (answer.error !== undefined) return { accepted: false };
  if (answer.status >= 200 && answer.status < 300) return withStatus(true, parseStatus(answer.body));
  return withStatus(false, answer.status === 409 ? parseStatus(answer.body, 'status') : undefined);
}

export interface RoleChangeResult {
  ok: boolean;
  status: number;
  code?: string;
  message: string;
  /** a promotion: how long the member waited out its promise to its peer */
  waitedMs?: number;
}

export async function changeRole(
  baseUrl: string,
  auth: MemberAuth,
  action: 'promote' | 'demote',
  epoch: number,
  force: boolean,
  timeoutMs: number,
  promotion: { grant?: { anchor: number; ms: number }; peerExited?: boolean } = {},
): Promise<RoleChangeResult> {
  const { grant, peerExited } = promotion;
  const r = await request(`${baseUrl}/v1/admin/${action}`, {
    method: 'POST',
    timeoutMs,
    tls: auth.tls,
    headers: { 'content-type': 'application/json', ...bearer(auth) },
    body: JSON.stringify(
      action === 'promote'
        ? { epoch, force, ...(grant ? { grant } : {}), ...(peerExited ? { peerExited } : {}) }
        : { epoch },
    ),
  });
  if (r.error !== undefined) return { ok: false, status: 0, message: r.error };
  let body: { code?: string; message?: string; waitedMs?: unknown } = {};
  try {
    body = JSON.parse(r.body) as typeof body;
  } catch {
    // Not JSON: keep the raw text as the message.
  }
  return {
    ok: r.status >= 200 && r.status < 300,
    status: r.status,
    ...(body.code ? { code: body.code } : {}),
    message: body.message ?? r.body.slice(0, 200),
    ...(typeof body.waitedMs === 'number' ? { waitedMs: body.waitedMs } : {}),
  };
}
