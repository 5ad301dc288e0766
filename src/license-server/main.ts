// Entry point of the reference licence server: `node src/license-server/main.ts`.
// Configuration comes from the environment (docs/server-contract.md, docs/license-server.md).
import http from 'node:http';
import type https from 'node:https';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { TokenSource } from './auth.ts';
import { ConfigError, configFromEnv } from './config.ts';
import type { ServerConfig } from './config.ts';
import { adminApp, clientError, clientHandler, metricsApp, replicationStream } from './http.ts';
import { usePeerTls } from './peer-tls.ts';
import { Member } from './server.ts';
import { CallerCheck } from './tls-access.ts';
import { TlsCredentials } from './tls-credentials.ts';
import { createTlsServer } from './tls-listeners.ts';
import { exportTlsExpiry } from './tls-metrics.ts';

export type RunningServer = {
  member: Member;
  ports: { licences: number; admin: number; metrics: number };
  close(): Promise<void>;
};

function usageLogger(cfg: ServerConfig, logger: Logger): Logger | undefined {
  if (cfg.usageLog === 'off') return undefined;
  if (cfg.usageLog === 'stdout') return logger.child({ log: 'usage' });
  return pino(
    { base: { log: 'usage' }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: cfg.usageLog, sync: false, mkdir: true }),
  );
}

function listen(server: http.Server | https.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Start a member with its three listeners (ports may be 0 in tests). */
export async function startServer(cfg: ServerConfig, logger?: Logger): Promise<RunningServer> {
  const log =
    logger ??
    pino({ level: cfg.logLevel, base: { member: cfg.member }, timestamp: pino.stdTimeFunctions.isoTime });
  const adminTokens = cfg.adminTokenFile
    ? new TokenSource({
        file: cfg.adminTokenFile,
        graceMs: cfg.tokenGraceMs,
        onChange: (i) =>
          i.error
            ? log.warn(i.error)
            : i.rotated && log.info('admin token rotated; previous one still accepted'),
      })
    : undefined;
  const clientTokens = cfg.clientTokenFile
    ? new TokenSource({ file: cfg.clientTokenFile, graceMs: cfg.tokenGraceMs })
    : undefined;
  if (!adminTokens) log.warn('no admin token configured: admin and replication endpoints are open');
  const credentials = cfg.tls ? new TlsCredentials(cfg.tls, log) : undefined;
  if (!credentials)
    log.warn(
      'TLS is off: the licence and admin ports (replication included) are plaintext; ' +
        'set LS_TLS_CERT_FILE, LS_TLS_KEY_FILE and LS_TLS_CA_FILE to turn it on',
    );
  const forgetPeerTls =
    credentials && cfg.peerUrl
      ? usePeerTls(cfg.peerUrl, () => credentials.material, cfg.pairId, cfg.member)
      : undefined;
  const member = new Member({
    config: cfg,
    logger: log,
    usageLogger: usageLogger(cfg, log),
    peerToken: () => adminTokens?.token ?? '',
  });
  if (credentials) exportTlsExpiry(member.metrics.registry, credentials);
  member.start();
  const opts = {
    bodyLimit: cfg.bodyLimit,
    requestTimeoutMs: cfg.requestTimeoutMs,
    adminTokens,
    clientTokens,
    callers: credentials ? new CallerCheck({ pairId: cfg.pairId, member: cfg.member, log }) : undefined,
  };
  const stream = replicationStream(member, opts);
  // node checks the header and request timeouts every connectionsCheckingInterval (30 s by
  // default): a client sending its headers or body byte by byte is cut off within a second of them.
  const serverOpts = {
    connectionsCheckingInterval: Math.min(1000, cfg.requestTimeoutMs),
    // checked by the apps, so that the refusal has the JSON body of every other one
    requireHostHeader: false,
  };
  // The metrics port stays plaintext: it carries no secret, and Prometheus scrapes it as before.
  const serve = (port: 'licences' | 'admin', options: http.ServerOptions, handler: http.RequestListener) =>
    credentials
      ? createTlsServer(port, options, handler, credentials, log)
      : http.createServer(options, handler);
  const admin = serve(
    'admin',
    { ...serverOpts, shouldUpgradeCallback: stream.shouldUpgrade },
    adminApp(member, opts),
  );
  admin.on('upgrade', stream.upgrade);
  const servers = [
    serve('licences', serverOpts, clientHandler(member, opts)),
    admin,
    http.createServer(serverOpts, metricsApp(member)),
  ];
  for (const s of servers) {
    s.requestTimeout = cfg.requestTimeoutMs;
    s.headersTimeout = Math.min(cfg.requestTimeoutMs, 10_000);
    s.keepAliveTimeout = 30_000;
    s.on('clientError', clientError);
  }
  const [c, a, m] = servers as [http.Server | https.Server, http.Server | https.Server, http.Server];
  const ports = {
    licences: await listen(c, cfg.port, cfg.bind),
    admin: await listen(a, cfg.adminPort, cfg.bind),
    metrics: await listen(m, cfg.metricsPort, cfg.bind),
  };
  log.info(
    {
      ports,
      pairId: cfg.pairId,
      peer: cfg.peerUrl ?? null,
      mode: cfg.replicationMode,
      tls: credentials !== undefined,
    },
    'listening',
  );
  let closing: Promise<void> | undefined;
  return {
    member,
    ports,
    close() {
      closing ??= (async () => {
        stream.close();
        await Promise.all(
          servers.map(
            (s) =>
              new Promise<void>((r) => {
                s.close(() => r());
                s.closeAllConnections();
              }),
          ),
        );
        await member.close();
        adminTokens?.close();
        clientTokens?.close();
        credentials?.close();
        forgetPeerTls?.();
      })();
      return closing;
    },
  };
}

/**
 * After SIGTERM the member closes its listeners and the replication stream and exits; one that
 * takes longer than this exits anyway. In a pod this follows the preStop sleep, and both fit in
 * the pod's grace period (src/operator/member-pod-spec.ts).
 */
export const SHUTDOWN_LIMIT_MS = 5000;

async function main(): Promise<void> {
  let cfg: ServerConfig;
  try {
    cfg = configFromEnv();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`license-server: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  let running: RunningServer;
  try {
    running = await startServer(cfg);
  } catch (err) {
    // files named by the configuration that cannot be used (TLS): as a configuration error
    if (err instanceof ConfigError) {
      console.error(`license-server: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const log = running.member.log;
  process.on('SIGHUP', () => running.member.reloadLicence('SIGHUP'));
  const stop = (sig: string): void => {
    log.info({ signal: sig }, 'shutting down');
    const force = setTimeout(() => process.exit(1), SHUTDOWN_LIMIT_MS);
    force.unref();
    void running.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception');
    process.exit(1);
  });
}

if (import.meta.main) await main();
