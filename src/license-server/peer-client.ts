// Calls from a member to its peer's admin port: status, demotion, snapshot, long-poll, and the
// upgrade to the replication stream. All on node:http, so every call has the same deadline,
// source address, certificate and error translation.
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { peerTlsOptions } from './peer-tls.ts';

export class PeerError extends Error {
  override name = 'PeerError';
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export type PeerRequest = {
  method?: 'GET' | 'POST';
  token: string;
  body?: unknown;
  timeoutMs: number;
  /** ends the call early (the follower stops) */
  signal?: AbortSignal;
  /** source address of the connection (the member's own address when it binds one) */
  localAddress?: string;
};

/** One JSON call to the peer; a non-2xx answer becomes a PeerError with the peer's code. */
export async function peerRequest<T>(url: string, r: PeerRequest): Promise<T> {
  const target = new URL(url);
  const request = target.protocol === 'https:' ? https.request : http.request;
  const signal = r.signal
    ? AbortSignal.any([r.signal, AbortSignal.timeout(r.timeoutMs)])
    : AbortSignal.timeout(r.timeoutMs);
  const payload = r.body === undefined ? undefined : JSON.stringify(r.body);
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(target, {
      method: r.method ?? 'GET',
      headers: {
        authorization: `Bearer ${r.token}`,
        ...(payload !== undefined
          ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
          : {}),
      },
      signal,
      ...(r.localAddress ? { localAddress: r.localAddress } : {}),
      ...peerTlsOptions(target),
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
  if (status < 200 || status >= 300) throw peerRefusal(status, text);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new PeerError(status, 'BAD_RESPONSE', `peer answered ${status} with non-JSON`);
  }
}

/** The peer's refusal (a non-2xx answer) as a PeerError with the peer's code and message. */
export function peerRefusal(status: number, text: string): PeerError {
  let body: { code?: string; message?: string };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    return new PeerError(status, 'BAD_RESPONSE', `peer answered ${status} with non-JSON`);
  }
  return new PeerError(status, body.code ?? 'UNKNOWN', body.message ?? `peer answered ${status}`);
}

/** GET a JSON document from the peer's admin port. */
export function peerGet<T>(url: string, token: string, timeoutMs: number): Promise<T> {
  return peerRequest<T>(url, { token, timeoutMs });
}

/** POST a JSON body to the peer's admin port. */
export function peerPost<T>(url: string, token: string, body: unknown, timeoutMs: number): Promise<T> {
  return peerRequest<T>(url, { method: 'POST', token, body, timeoutMs });
}

export type PeerUpgrade = {
  /** the upgraded connection and what the peer sent after its answer; a refusal is a PeerError */
  connected: Promise<{ socket: Socket; head: Buffer }>;
  /** give up the request (the follower stops) */
  cancel(): void;
};

/**
 * GET `url` with `Upgrade: protocol`. `timeoutMs` bounds the wait for the peer's answer only:
 * the upgraded connection lasts as long as its user keeps it.
 */
export function peerUpgrade(
  url: string,
  r: { token: string; protocol: string; timeoutMs: number; localAddress?: string },
): PeerUpgrade {
  const target = new URL(url);
  const request = target.protocol === 'https:' ? https.request : http.request;
  const req = request(target, {
    agent: false,
    ...(r.localAddress ? { localAddress: r.localAddress } : {}),
    ...peerTlsOptions(target),
    headers: {
      authorization: `Bearer ${r.token}`,
      connection: 'Upgrade',
      upgrade: r.protocol,
    },
  });
  const connected = new Promise<{ socket: Socket; head: Buffer }>((resolve, reject) => {
    const timer = setTimeout(
      () => req.destroy(new Error(`the peer did not answer within ${r.timeoutMs} ms`)),
      r.timeoutMs,
    );
    req.on('upgrade', (_res, socket, head) => {
      clearTimeout(timer);
      resolve({ socket, head });
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        clearTimeout(timer);
        reject(peerRefusal(res.statusCode ?? 0, text));
      });
      res.on('error', reject);
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end();
  });
  return { connected, cancel: () => req.destroy(new Error('replication stopped')) };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
