import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { PeerCertificate, SecureContext } from 'node:tls';
import { afterPendingIo } from '../license-server/after-pending-io.ts';
import { describeIdentity, identitiesOf, type Identity } from '../tls/identity.ts';
import type { LicenceReport } from './observation.ts';
import type { ServingReport } from './serving.ts';

/**
 * HTTP calls from the operator to a member: its health check, and for the reference server the
 * status and role changes of docs/server-contract.md. Every call has a deadline; none throws.
 */
export interface ProbeResult {
  ok: boolean;
  latencyMs: number;
  message: string;
}

export interface MemberStatus {
  role: 'active' | 'standby';
  epoch: number;
  replication: 'in-sync' | 'catching-up' | 'disconnected' | 'none';
  lagEntries?: number;
  lagSeconds?: number;
  peerLastSeenSeconds?: number;
  serving?: ServingReport;
  licence?: LicenceReport;
  /** names this answer: a solo grant sent later is counted from it */
  anchor?: number;
}

/**
 * TLS to a member: the operator's context (the installation's trust bundle and its client
 * certificate, read for each call so a renewal is picked up) and the member identity the
 * certificate must carry. The operator dials pod IPs, which are in no certificate: the identity
 * is what proves it reached that member of that pair.
 */
export interface MemberCallTls {
  context: () => SecureContext | undefined;
  identity: Identity & { kind: 'member' };
}

/** How the operator authenticates to a member, and the member to it. */
export interface MemberAuth {
  token?: string | undefined;
  tls?: MemberCallTls | undefined;
}

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

function parseStatus(text: string, field?: 'status'): MemberStatus | undefined {
  try {
    const parsed = JSON.parse(text) as Record<string, unknown>;
    const body = (field ? parsed[field] : parsed) as
      | {
          role?: string;
          epoch?: number;
          replication?: {
            state?: string;
            lagEntries?: number;
            lagSeconds?: number;
            peerLastSeenSeconds?: number | null;
          };
          serving?: ServingJsonish;
          license?: unknown;
        }
      | undefined;
    if (!body) return undefined;
    if (body.role !== 'active' && body.role !== 'standby') return undefined;
    const state = body.replication?.state;
    return {
      role: body.role,
      epoch: typeof body.epoch === 'number' ? body.epoch : 0,
      replication:
        state === 'in-sync' || state === 'catching-up' || state === 'disconnected' ? state : 'none',
      ...(typeof body.replication?.lagEntries === 'number'
        ? { lagEntries: body.replication.lagEntries }
        : {}),
      ...(typeof body.replication?.lagSeconds === 'number'
        ? { lagSeconds: body.replication.lagSeconds }
        : {}),
      ...(typeof body.replication?.peerLastSeenSeconds === 'number'
        ? { peerLastSeenSeconds: body.replication.peerLastSeenSeconds }
        : {}),
      ...servingOf(body.serving),
      ...licenceOf(body.license),
    };
  } catch {
    return undefined;
  }
}

const LICENCE_STATES = ['valid', 'invalid', 'expired', 'missing'] as const;

/** The `license` block of a status answer; a malformed one is left out (taken as unknown). */
export function licenceOf(raw: unknown): Pick<MemberStatus, 'licence'> {
  if (typeof raw !== 'object' || raw === null) return {};
  const l = raw as Record<string, unknown>;
  const state = LICENCE_STATES.find((s) => s === l['state']);
  if (state === undefined) return {};
  const str = (k: string) => (typeof l[k] === 'string' ? (l[k] as string) : undefined);
  const time = (v: unknown) =>
    typeof v === 'string' && Number.isFinite(Date.parse(v)) ? Date.parse(v) : undefined;
  const first = l['firstExpiry'] as { feature?: unknown; expires?: unknown } | undefined;
  const firstAt = time(first?.expires);
  const expiresAt = time(l['expires']);
  const report: LicenceReport = { state, message: (str('message') ?? '').slice(0, 1000) };
  for (const k of ['code', 'lastError', 'lastErrorCode'] as const) {
    const v = str(k);
    if (v !== undefined) report[k] = v.slice(0, 1000);
  }
  if (expiresAt !== undefined) report.expiresAt = expiresAt;
  if (firstAt !== undefined && typeof first?.feature === 'string')
    report.firstExpiry = { feature: first.feature.slice(0, 200), at: firstAt };
  return { licence: report };
}

const RIGHTS = ['unpaired', 'peer', 'alone', 'none', 'standby'] as const;

type ServingJsonish = {
  right?: string;
  withoutPeerSeconds?: number | null;
  anchor?: number;
  ackedSeq?: number | null;
  aloneSeq?: number | null;
};

function servingOf(s: ServingJsonish | undefined): Pick<MemberStatus, 'serving' | 'anchor'> {
  const right = RIGHTS.find((r) => r === s?.right);
  if (!s || right === undefined) return {};
  const num = (k: 'withoutPeerSeconds' | 'ackedSeq' | 'aloneSeq') =>
    typeof s[k] === 'number' ? { [k]: s[k] } : {};
  return {
    serving: { right, ...num('withoutPeerSeconds'), ...num('ackedSeq'), ...num('aloneSeq') },
    ...(typeof s.anchor === 'number' ? { anchor: s.anchor } : {}),
  };
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

/** Bodies past this are not a health or status answer: the call fails instead of buffering them. */
const MAX_BODY_BYTES = 64 * 1024;

// One connection per call, closed after it (as the kubelet probes): at a thousand pairs, keeping
// connections to 4,000 member ports open would cost more memory than reconnecting costs CPU.
const agent = new http.Agent({ keepAlive: false });
const tlsAgent = new https.Agent({ keepAlive: false });

interface Answer {
  status: number;
  body: string;
  /** Set when no complete answer came: timed out, refused, reset, too large. */
  error?: string;
}

const failed = (error: string): Answer => ({ status: 0, body: '', error });

/**
 * One HTTP call with a deadline that covers connecting, the headers and the body. Node's http
 * client rather than fetch: a health check every two seconds for each of thousands of members is
 * the operator's hottest path, and fetch allocates an AbortSignal, a Response and streams per call.
 */
function request(
  url: string,
  opts: {
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    timeoutMs: number;
    tls?: MemberCallTls | undefined;
  },
): Promise<Answer> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (a: Answer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(a);
    };
    let req: http.ClientRequest;
    try {
      const common = {
        method: opts.method ?? 'GET',
        headers: {
          ...(opts.body !== undefined ? { 'content-length': Buffer.byteLength(opts.body) } : {}),
          ...opts.headers,
        },
      };
      if (url.startsWith('https:')) {
        const tls = opts.tls;
        const secureContext = tls?.context();
        if (!tls || !secureContext) {
          resolve(failed('no TLS context for this member yet (the installation CA is not loaded)'));
          return;
        }
        // secureContext goes through the agent to tls.connect (its types leave it out of https's options).
        const options: https.RequestOptions & { secureContext: SecureContext } = {
          ...common,
          agent: tlsAgent,
          secureContext,
          checkServerIdentity: (_host, cert) => checkMemberIdentity(cert, tls.identity),
        };
        req = https.request(url, options);
      } else req = http.request(url, { ...common, agent });
    } catch (err) {
      resolve(failed(describe(err)));
      return;
    }
    // The answer may be waiting unread after the operator's own stall: not a failed check.
    const timer = setTimeout(
      () =>
        afterPendingIo(() => {
          if (settled) return;
          finish(failed('timed out'));
          req.destroy();
        }),
      opts.timeoutMs,
    );
    req.once('error', (err) => finish(failed(describe(err))));
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY_BYTES) {
          finish({
            status: res.statusCode ?? 0,
            body: '',
            error: `answer larger than ${MAX_BODY_BYTES} bytes`,
          });
          req.destroy();
          return;
        }
        chunks.push(c);
      });
      res.once('end', () =>
        finish({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.once('error', (err) => finish(failed(describe(err))));
    });
    req.end(opts.body);
  });
}

/** The member's certificate must carry exactly the identity of the member the call is for. */
export function checkMemberIdentity(
  cert: PeerCertificate,
  want: Identity & { kind: 'member' },
): Error | undefined {
  const ids = identitiesOf(cert);
  const ok = ids.some(
    (id) =>
      id.kind === 'member' &&
      id.namespace === want.namespace &&
      id.pair === want.pair &&
      id.member === want.member,
  );
  if (ok) return undefined;
  const got = ids.length > 0 ? ids.map(describeIdentity).join(', ') : 'no identity of this product';
  return new Error(`the certificate names ${got}, not ${describeIdentity(want)}`);
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: string }).code;
  // A certificate refusal needs its reason (the code alone says little), and a hint where to look.
  if (code && /CERT|SIGNATURE|ISSUER|SSL|TLS/.test(code))
    return `TLS: ${err.message} (${code}); the member's certificate must come from the installation CA (Secret license-pair-operator-ca)`;
  return code ?? err.message;
}
