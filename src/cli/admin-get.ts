// One GET of a member's admin port, for `server status`. node:https rather than fetch: fetch
// takes no CA bundle or client certificate, and the admin port's status asks for both with TLS on.
// A handshake failure becomes the client library's TlsCertificateError, whose message names the
// fix (--ca), so that lspctl says the same thing for every command.
import http from 'node:http';
import https from 'node:https';
import type { TlsCertificateError } from '../client/client.ts';
import { tlsProblem } from '../client/tls-errors.ts';
import type { PemSource } from '../client/client.ts';

export type AdminGetOptions = {
  token?: string | undefined;
  ca?: PemSource | undefined;
  cert?: PemSource | undefined;
  key?: PemSource | undefined;
  timeoutMs: number;
};

export type AdminAnswer = { status: number; body: unknown };

/** Answers bigger than this are not a member's status. */
const MAX_ANSWER_BYTES = 1 << 20;

const pem = (p: PemSource | undefined): string | Buffer | undefined => (typeof p === 'function' ? p() : p);

/**
 * GET `url` and parse its JSON answer (undefined when it is not JSON). Rejects with a
 * TlsCertificateError for a certificate that cannot be accepted, with an Error otherwise.
 */
export function adminGet(url: URL, o: AdminGetOptions): Promise<AdminAnswer> {
  const secure = url.protocol === 'https:';
  const tls = secure
    ? {
        ...(o.ca !== undefined ? { ca: pem(o.ca) } : {}),
        ...(o.cert !== undefined ? { cert: pem(o.cert) } : {}),
        ...(o.key !== undefined ? { key: pem(o.key) } : {}),
      }
    : {};
  return new Promise<AdminAnswer>((resolve, reject) => {
    const req = (secure ? https : http).request(url, {
      method: 'GET',
      agent: false,
      ...tls,
      headers: o.token ? { authorization: `Bearer ${o.token}` } : {},
    });
    // the whole call, not the socket's idle time: a member answering byte by byte is no answer
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${o.timeoutMs} ms`)), o.timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('error', (err: NodeJS.ErrnoException) => {
      const problem: TlsCertificateError | undefined = secure
        ? tlsProblem(err, url.origin, o.ca !== undefined)
        : undefined;
      reject(problem ?? err);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_ANSWER_BYTES) res.destroy(new Error(`the answer is over ${MAX_ANSWER_BYTES} bytes`));
        else chunks.push(chunk);
      });
      res.on('error', reject);
      res.on('end', () => {
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          body = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.end();
  });
}
