import http from 'node:http';
import https from 'node:https';

/**
 * One HTTP request on a NEW connection. Through a Service, a kept-alive connection stays on the pod
 * conntrack first chose, even after the selector moved; tests and benchmarks that measure routing
 * must not reuse one. Resolves with the status and body; rejects on a network error, or when no
 * whole answer came within `timeoutMs` (a deadline for the whole request: the socket's idle timeout
 * is armed only once the connection is made, and fired after about twice its value against a
 * stopped TLS server).
 */
/** TLS for an https request: the CA bundle, an optional client certificate, the name to verify. */
export interface RequestTls {
  ca: string;
  cert?: string | undefined;
  key?: string | undefined;
  servername: string;
}

export function requestOnNewConnection(
  url: string,
  opts: {
    method?: 'GET' | 'POST';
    json?: unknown;
    timeoutMs?: number;
    /** source address (a client on one side of a packet filter) */
    localAddress?: string;
    headers?: Record<string, string>;
    /**
     * For an https URL: the CA bundle, a client certificate, and the name to verify the server's
     * certificate against (an IP address is in none of the pair's certificates).
     */
    tls?: RequestTls;
  } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const secure = url.startsWith('https:');
    if (secure && !opts.tls) {
      reject(new Error(`${url}: an https request needs the pair's CA (opts.tls)`));
      return;
    }
    const tls = secure
      ? {
          ca: opts.tls!.ca,
          servername: opts.tls!.servername,
          ...(opts.tls!.cert ? { cert: opts.tls!.cert, key: opts.tls!.key } : {}),
        }
      : {};
    const req = (secure ? https : http).request(
      url,
      {
        ...tls,
        method: opts.method ?? (opts.json === undefined ? 'GET' : 'POST'),
        agent: false,
        ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
        headers: {
          ...(opts.json !== undefined ? { 'content-type': 'application/json' } : {}),
          ...opts.headers,
        },
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => {
          clearTimeout(deadline);
          resolve({ status: res.statusCode ?? 0, body });
        });
        res.on('error', reject);
      },
    );
    const deadline = setTimeout(() => req.destroy(new Error('timeout')), opts.timeoutMs ?? 1000);
    req.on('error', (err) => {
      clearTimeout(deadline);
      reject(err);
    });
    req.end(opts.json === undefined ? undefined : JSON.stringify(opts.json));
  });
}
