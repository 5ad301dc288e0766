// HTTP for the client: POST a JSON body, read the JSON answer, with keep-alive connections per
// address that can be dropped at once. node:http rather than fetch: fetch's connection pool
// cannot be told to let go of the connections to one member, and a connection kept alive to a
// member that stepped down (through a Service, conntrack keeps it on the old pod) would carry
// the next request there again.
import http from 'node:http';
import https from 'node:https';
import type { Outcome } from './retry-policy.ts';

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
  /** connections opened, per origin (for tests and diagnostics) */
  readonly connections = new Map<string, number>();

  private agentFor(url: URL): http.Agent {
    let agent = this.agents.get(url.origin);
    if (!agent) {
      const options = { keepAlive: true, maxSockets: 8, maxFreeSockets: 4 };
      agent = url.protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
      this.agents.set(url.origin, agent);
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
      const fail = (err: NodeJS.ErrnoException): void =>
        done({
          kind: 'failure',
          code: err.code ?? 'ERROR',
          message: err.message,
          sent: connected && !NOT_SENT.has(err.code ?? ''),
        });
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
