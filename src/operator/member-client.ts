import net from 'node:net';

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
}

export async function httpCheck(url: string, timeoutMs: number): Promise<ProbeResult> {
  const started = performance.now();
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    const latencyMs = performance.now() - started;
    return res.status >= 200 && res.status < 400
      ? { ok: true, latencyMs, message: `HTTP ${res.status}` }
      : { ok: false, latencyMs, message: `HTTP ${res.status}` };
  } catch (err) {
    return { ok: false, latencyMs: performance.now() - started, message: describe(err) };
  }
}

export function tcpCheck(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean, message: string) => {
      socket.destroy();
      resolve({ ok, latencyMs: performance.now() - started, message });
    };
    socket.setTimeout(timeoutMs, () => done(false, `no connection within ${timeoutMs} ms`));
    socket.once('connect', () => done(true, 'connected'));
    socket.once('error', (err) => done(false, err.message));
  });
}

export async function readStatus(
  baseUrl: string,
  token: string | undefined,
  timeoutMs: number,
): Promise<MemberStatus | undefined> {
  try {
    const res = await fetch(`${baseUrl}/v1/status`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) {
      await res.arrayBuffer();
      return undefined;
    }
    const body = (await res.json()) as {
      role?: string;
      epoch?: number;
      replication?: {
        state?: string;
        lagEntries?: number;
        lagSeconds?: number;
        peerLastSeenSeconds?: number | null;
      };
    };
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
    };
  } catch {
    return undefined;
  }
}

export interface RoleChangeResult {
  ok: boolean;
  status: number;
  code?: string;
  message: string;
}

export async function changeRole(
  baseUrl: string,
  token: string | undefined,
  action: 'promote' | 'demote',
  epoch: number,
  force: boolean,
  timeoutMs: number,
): Promise<RoleChangeResult> {
  try {
    const res = await fetch(`${baseUrl}/v1/admin/${action}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(action === 'promote' ? { epoch, force } : { epoch }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let body: { code?: string; message?: string } = {};
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      // Not JSON: keep the raw text as the message.
    }
    return {
      ok: res.ok,
      status: res.status,
      ...(body.code ? { code: body.code } : {}),
      message: body.message ?? text.slice(0, 200),
    };
  } catch (err) {
    return { ok: false, status: 0, message: describe(err) };
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    if (err.name === 'TimeoutError') return 'timed out';
    return cause?.code ?? cause?.message ?? err.message;
  }
  return String(err);
}
