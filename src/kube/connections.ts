import type * as k8s from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import type https from 'node:https';

/** An undici Dispatcher, as far as this module uses one. */
interface Dispatcher {
  close(): Promise<void>;
}
type CreateDispatcher = (
  cluster: k8s.Cluster | null,
  agentOptions: https.AgentOptions,
) => Dispatcher | undefined;

/**
 * Makes every API call of `kc` share one connection pool.
 *
 * client-node (2.0) builds a new undici Agent for each API call, so each call opens its own TLS
 * connection, which then idles open until undici's keep-alive timeout: at a thousand pairs the
 * operator held 400–900 connections to the API server, paid a TLS handshake per request on both
 * sides (7 % of the API server's CPU), and carried the memory of each. Here the dispatcher is
 * built once per distinct set of TLS credentials and reused; when the credentials change (a
 * rotated client certificate) a new one is built and the old one closes gracefully.
 *
 * It replaces a private method of KubeConfig; test/integration/connections.test.ts fails if a
 * client-node upgrade renames it or the calls stop sharing connections.
 */
export function shareConnections(kc: k8s.KubeConfig): k8s.KubeConfig {
  const target = kc as unknown as { createDispatcher?: CreateDispatcher };
  const original = target.createDispatcher;
  if (typeof original !== 'function')
    throw new Error(
      '@kubernetes/client-node has no KubeConfig.createDispatcher: update src/kube/connections.ts',
    );
  let cached: { key: string; dispatcher: Dispatcher | undefined } | undefined;
  target.createDispatcher = (cluster, agentOptions) => {
    const key = fingerprint(cluster, agentOptions);
    if (cached?.key === key) return cached.dispatcher;
    const previous = cached?.dispatcher;
    cached = { key, dispatcher: original.call(kc, cluster, agentOptions) };
    // close() lets the requests already on the old pool (a long watch included) finish.
    if (previous) void previous.close().catch(() => undefined);
    return cached.dispatcher;
  };
  return kc;
}

function fingerprint(cluster: k8s.Cluster | null, o: https.AgentOptions): string {
  const h = createHash('sha256');
  for (const part of [
    cluster?.server,
    cluster?.proxyUrl,
    o.ca,
    o.cert,
    o.key,
    o.pfx,
    o.passphrase,
    o.servername,
    o.rejectUnauthorized,
  ]) {
    h.update(part === undefined ? '\u0000' : Buffer.isBuffer(part) ? part : JSON.stringify(part));
    h.update('\u0001');
  }
  return h.digest('hex');
}
