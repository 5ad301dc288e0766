// The transport under every call in member-client.ts: one request, one deadline, a bounded body,
// http or https with the member's identity. Kept apart so that the typed calls read as the
// protocol (docs/server-contract.md) and this hot path can be read on its own.
import http from 'node:http';
import https from 'node:https';
import type { SecureContext } from 'node:tls';
import { afterPendingIo } from '../license-server/after-pending-io.ts';
import { describeCallError } from './member-call-error.ts';
import type { MemberCallTls } from './member-wire.ts';
import { checkMemberIdentity } from './tls/member-identity-check.ts';

/** Bodies past this are not a health or status answer: the call fails instead of buffering them. */
const MAX_BODY_BYTES = 64 * 1024;

// One connection per call, closed after it (as the kubelet probes): at a thousand pairs, keeping
// connections to 4,000 member ports open would cost more memory than reconnecting costs CPU.
const agent = new http.Agent({ keepAlive: false });
const tlsAgent = new https.Agent({ keepAlive: false });

export interface Answer {
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
export function request(
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
      resolve(failed(describeCallError(err)));
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
    req.once('error', (err) => finish(failed(describeCallError(err))));
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
      res.once('error', (err) => finish(failed(describeCallError(err))));
    });
    req.end(opts.body);
  });
}
