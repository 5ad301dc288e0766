// HTTP for the client: POST a JSON body, read the JSON answer, with keep-alive connections per
// address that can be dropped at once. node:http rather than fetch: fetch's connection pool
// cannot be told to let go of the connections to one member, and a connection kept alive to a
// member that stepped down (through a Service, conntrack keeps it on the old pod) would carry
// the next request there again.
import http from 'node:http';
import https from 'node:https';
import type { Outcome } from './retry-policy.ts';
import { tlsProblem } from './tls-errors.ts';

/** PEM text, or a function giving the current text (a mounted file that is rotated). */
export type PemSource = string | Buffer | (() => string | Buffer);

/**
 * TLS for https:// addresses. `ca`: the bundle the server's certificate must chain to (without
 * it, node's built-in public CAs); `cert`/`key`: a client certificate, for servers that ask for one.
 * A function is called for each request; when its value changes, new connections use it.
 */
export type ClientTlsOptions = { ca?: PemSource; cert?: PemSource; key?: PemSource; servername?: string };

type TlsMaterial = { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer };

const resolve = (p: PemSource | undefined): string | Buffer | undefined =>
  typeof p === 'function' ? p() : p;

const sameValue = (a: string | Buffer | undefined, b: string | Buffer | undefined): boolean =>
  a === b || (a !== undefined && b !== undefined && Buffer.from(a).equals(Buffer.from(b)));

function sameMaterial(a: TlsMaterial, b: TlsMaterial): boolean {
  return sameValue(a.ca, b.ca) && sameValue(a.cert, b.cert) && sameValue(a.key, b.key);
}

/** Errors that mean the request never left: the connection was not made. */
const NOT_SENT = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
]);

/** Answers over this size are not a licence server's. */
const MAX_ANSWER_BYTES = 1 << 20;

export type PostOptions = { timeoutMs: number; token?: string | undefined };

export class Transport {
  private readonly agents = new Map<string, http.Agent>();
  /** the TLS material each https agent was made with */
  private readonly agentTls = new Map<string, TlsMaterial>();
  private readonly tls: ClientTlsOptions;
  /** connections opened, per origin (for tests and diagnostics) */
  readonly connections = new Map<string, number>();

  constructor(tls: ClientTlsOptions = {}) {
    this.tls = tls;
  }

  private material(): TlsMaterial {
    const m: TlsMaterial = {};
    const ca = resolve(this.tls.ca);
    const cert = resolve(this.tls.cert);
    const key = resolve(this.tls.key);
    if (ca !== undefined) m.ca = ca;
    if (cert !== undefined) m.cert = cert;
    if (key !== undefined) m.key = key;
    return m;
  }

  private agentFor(url: URL): http.Agent {
    const options = { keepAlive: true, maxSockets: 8, maxFreeSockets: 4 };
    if (url.protocol !== 'https:') {
      let agent = this.agents.get(url.origin);
      if (!agent) this.agents.set(url.origin, (agent = new http.Agent(options)));
      return agent;
    }
    const tls = this.material();
    let agent = this.agents.get(url.origin);
    const made = this.agentTls.get(url.origin);
    // A rotated CA bundle or client certificate: new connections use it; the open ones finish
    // their requests with the one they were made with.
    if (agent && made && !sameMaterial(made, tls)) {
      this.forget(url.origin);
      agent = undefined;
    }
    if (!agent) {
      agent = new https.Agent({
        ...options,
        ...tls,
        ...(this.tls.servername !== undefined ? { servername: this.tls.servername } : {}),
      });
      this.agents.set(url.origin, agent);
      this.agentTls.set(url.origin, tls);
    }
    return agent;
  }

  /**
   * Drop the kept-alive connections to `address`: idle ones now, those carrying a request when
   * their answer is in. The next request opens a new connection.
   */
  forget(address: string): void {
    const origin = new URL(address).origin;
    const agent = this.agents.get(origin);
    if (!agent) return;
    this.agents.delete(origin);
    this.agentTls.delete(origin);
    agent.keepSocketAlive = () => false;
    for (const list of Object.values(agent.freeSockets)) for (const s of list ?? []) s.destroy();
  }

  /** Close every connection (the client is done). */
  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }

  post(address: string, path: string, body: unknown, opts: PostOptions): Promise<Outcome> {
    const url = new URL(path, `${address}/`);
    const text = JSON.stringify(body);
    const agent = this.agentFor(url);
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise<Outcome>((resolve) => {
      let settled = false;
      let connected = false;
      const done = (o: Outcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(o);
      };
      const fail = (err: NodeJS.ErrnoException): void => {
        const tls =
          url.protocol === 'https:' ? tlsProblem(err, address, this.tls.ca !== undefined) : undefined;
        done({
          kind: 'failure',
          code: err.code ?? 'ERROR',
          message: err.message,
          sent: connected && !NOT_SENT.has(err.code ?? ''),
          ...(tls ? { tls } : {}),
        });
      };
      const req = mod.request(url, {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(text),
          ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
        },
      });
      const timer = setTimeout(() => {
        const err: NodeJS.ErrnoException = new Error(`no answer within ${opts.timeoutMs} ms`);
        err.code = 'ETIMEDOUT';
        fail(err);
        req.destroy(err);
      }, opts.timeoutMs);
      req.on('socket', (socket) => {
        if (!(socket as { connecting?: boolean }).connecting) {
          connected = true; // a kept-alive connection
          return;
        }
        socket.once('connect', () => {
          connected = true;
          this.connections.set(url.origin, (this.connections.get(url.origin) ?? 0) + 1);
        });
      });
      req.on('error', fail);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES) {
            res.destroy();
            done({ kind: 'answer', status: res.statusCode ?? 0, body: undefined });
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', fail);
        res.on('end', () => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            parsed = undefined;
          }
          done({ kind: 'answer', status: res.statusCode ?? 0, body: parsed });
        });
      });
      req.end(text);
    });
  }
}
