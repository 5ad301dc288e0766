import http from 'node:http';

/**
 * One HTTP request on a NEW connection. Through a Service, a kept-alive connection stays on the pod
 * conntrack first chose, even after the selector moved; tests and benchmarks that measure routing
 * must not reuse one. Resolves with the status and body; rejects on a network error or timeout.
 */
export function requestOnNewConnection(
  url: string,
  opts: {
    method?: 'GET' | 'POST';
    json?: unknown;
    timeoutMs?: number;
    /** source address (a client on one side of a packet filter) */
    localAddress?: string;
    headers?: Record<string, string>;
  } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: opts.method ?? (opts.json === undefined ? 'GET' : 'POST'),
        agent: false,
        timeout: opts.timeoutMs ?? 1000,
        ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
        headers: {
          ...(opts.json !== undefined ? { 'content-type': 'application/json' } : {}),
          ...opts.headers,
        },
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(opts.json === undefined ? undefined : JSON.stringify(opts.json));
  });
}
