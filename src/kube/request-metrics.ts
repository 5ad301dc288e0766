import diagnostics from 'node:diagnostics_channel';
import type { Counter } from 'prom-client';

/**
 * Counts the requests made to the Kubernetes API server (client-go's rest_client_requests_total:
 * HTTP method and status code, `<error>` when no answer came). client-node sends every request,
 * watches included, through undici, which publishes each one on diagnostics channels; only requests
 * to the API server's origin are counted (anything else in the process that uses fetch is not). A
 * watch counts once, when it starts. Returns a function that stops counting.
 */
interface UndiciRequest {
  origin?: string | URL;
  method?: string;
}

export function countApiRequests(serverUrl: string, counter: Counter<'method' | 'code'>): () => void {
  const host = new URL(serverUrl).host;
  const ours = (r: UndiciRequest) => {
    if (!r.origin) return false;
    try {
      return new URL(String(r.origin)).host === host;
    } catch {
      return false;
    }
  };
  const onHeaders = (msg: unknown) => {
    const { request, response } = msg as { request: UndiciRequest; response: { statusCode: number } };
    if (ours(request)) counter.inc({ method: request.method ?? 'GET', code: String(response.statusCode) });
  };
  const onError = (msg: unknown) => {
    const { request } = msg as { request: UndiciRequest };
    if (ours(request)) counter.inc({ method: request.method ?? 'GET', code: '<error>' });
  };
  diagnostics.subscribe('undici:request:headers', onHeaders);
  diagnostics.subscribe('undici:request:error', onError);
  return () => {
    diagnostics.unsubscribe('undici:request:headers', onHeaders);
    diagnostics.unsubscribe('undici:request:error', onError);
  };
}
