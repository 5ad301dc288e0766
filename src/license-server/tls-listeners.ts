// The licence and admin servers with TLS on: node's https server with the member's certificate,
// swapped for the reloaded one with setSecureContext (connections already open keep theirs, so a
// rotation drops no call). The admin port asks for a client certificate and the routes decide
// (tls-access.ts); the licence port asks for none. Handshakes that fail are logged with the
// reason (a plaintext request on a TLS port among them), once a minute per reason and address.
import type http from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { RepeatFilter } from './repeat-filter.ts';
import type { TlsCredentials, TlsMaterial } from './tls-credentials.ts';

export type TlsPort = 'licences' | 'admin';

function context(port: TlsPort, m: TlsMaterial): { cert: string; key: string; ca?: string } {
  return port === 'admin' ? { cert: m.cert, key: m.key, ca: m.ca } : { cert: m.cert, key: m.key };
}

/** Why a handshake failed, in words a reader of the log can act on. */
export function handshakeFailure(err: NodeJS.ErrnoException): { reason: string; quiet: boolean } {
  if (err.code === 'ERR_SSL_HTTP_REQUEST')
    return { reason: 'a plaintext HTTP request on a TLS port (the caller must use https://)', quiet: false };
  // a TCP probe or a client giving up: nothing was refused
  if (err.code === 'ECONNRESET' || /disconnected before secure TLS connection/.test(err.message))
    return { reason: err.message, quiet: true };
  return { reason: `${err.code ?? 'TLS'}: ${err.message}`, quiet: false };
}

export function createTlsServer(
  port: TlsPort,
  options: http.ServerOptions,
  handler: http.RequestListener,
  credentials: TlsCredentials,
  log: Logger,
): https.Server {
  const server = https.createServer(
    {
      ...options,
      ...context(port, credentials.material),
      minVersion: 'TLSv1.2',
      // admin: ask, let the route decide (probes without a certificate reach /healthz)
      requestCert: port === 'admin',
      rejectUnauthorized: false,
    },
    handler,
  );
  credentials.onChange((m) => server.setSecureContext(context(port, m)));
  const repeats = new RepeatFilter();
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    const { reason, quiet } = handshakeFailure(err);
    const remote = socket.remoteAddress ?? '';
    if (quiet) log.debug({ port, remote, reason }, 'tls: handshake not completed');
    else if (repeats.fresh(`${reason}|${remote}`))
      log.warn({ port, remote, reason }, 'tls: handshake refused');
  });
  return server;
}
