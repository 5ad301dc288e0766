// Configuration from the environment (see docs/server-contract.md and docs/license-server.md).
import os from 'node:os';
import { DEFAULT_PEER_PROMISE_MS } from './serving-rights.ts';

/** The member's certificate, key and CA bundle (a mounted kubernetes.io/tls Secret: tls.crt, tls.key, ca.crt). */
export type TlsFiles = {
  certFile: string;
  keyFile: string;
  caFile: string;
  /** how often the files are checked for a change (they are reloaded without a restart) */
  reloadMs: number;
};

export type ServerConfig = {
  pairId: string;
  member: string;
  peerUrl: string | undefined;
  /** this member's client URL, given to clients in NOT_ACTIVE answers by the standby */
  advertiseUrl: string | null;
  licenseFile: string | undefined;
  publicKeyFile: string | undefined;
  adminTokenFile: string | undefined;
  clientTokenFile: string | undefined;
  allowNoToken: boolean;
  tokenGraceMs: number;
  stateDir: string;
  bind: string;
  port: number;
  adminPort: number;
  metricsPort: number;
  replicationMode: 'sync' | 'async';
  syncTimeoutMs: number;
  /** Heartbeat period of the replication stream: the standby's evidence that the active is alive. */
  heartbeatMs: number;
  /** How long each acknowledgement of the standby promises it stays standby (R1, docs/reliability.md). */
  peerPromiseMs: number;
  leaseTtlMs: number;
  sweepIntervalMs: number;
  fsync: 'batch' | 'always';
  compactEvery: number;
  /** 'stdout' (default), 'off', or a file path */
  usageLog: string;
  logLevel: string;
  bodyLimit: string;
  requestTimeoutMs: number;
  licenceCheckMs: number;
  /** TLS on the licence and admin ports; undefined: plaintext (see docs/tls.md) */
  tls?: TlsFiles | undefined;
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function int(env: NodeJS.ProcessEnv, key: string, def: number, min = 0): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min)
    throw new ConfigError(`${key} must be an integer ≥ ${min}, got "${raw}"`);
  return n;
}

function oneOf<T extends string>(env: NodeJS.ProcessEnv, key: string, values: readonly T[], def: T): T {
  const raw = env[key];
  if (raw === undefined || raw === '') return def;
  if (!(values as readonly string[]).includes(raw))
    throw new ConfigError(`${key} must be one of ${values.join(', ')}, got "${raw}"`);
  return raw as T;
}

const opt = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);

const UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** A size such as "16kb", "1mb" or "512" (bytes), as the JSON parser reads it. */
export function byteSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i.exec(text);
  if (!m) throw new ConfigError(`not a size: "${text}" (use e.g. 16kb, 1mb or a number of bytes)`);
  return Math.floor(Number(m[1]) * (UNITS[(m[2] ?? 'b').toLowerCase()] ?? 1));
}

/** LS_TLS_CERT_FILE, LS_TLS_KEY_FILE and LS_TLS_CA_FILE: all three, or none (plaintext). */
function tlsFiles(env: NodeJS.ProcessEnv): TlsFiles | undefined {
  const files = {
    LS_TLS_CERT_FILE: opt(env.LS_TLS_CERT_FILE),
    LS_TLS_KEY_FILE: opt(env.LS_TLS_KEY_FILE),
    LS_TLS_CA_FILE: opt(env.LS_TLS_CA_FILE),
  };
  const given = Object.entries(files).filter(([, v]) => v !== undefined);
  if (given.length === 0) return undefined;
  if (given.length < 3)
    throw new ConfigError(
      `TLS needs LS_TLS_CERT_FILE, LS_TLS_KEY_FILE and LS_TLS_CA_FILE together; missing ${Object.entries(
        files,
      )
        .filter(([, v]) => v === undefined)
        .map(([k]) => k)
        .join(', ')}`,
    );
  return {
    certFile: files.LS_TLS_CERT_FILE!,
    keyFile: files.LS_TLS_KEY_FILE!,
    caFile: files.LS_TLS_CA_FILE!,
    reloadMs: int(env, 'LS_TLS_RELOAD_MS', 1000, 50),
  };
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const port = int(env, 'LS_PORT', 7070);
  const tls = tlsFiles(env);
  const pairId = opt(env.LS_PAIR_ID);
  if (!pairId) throw new ConfigError('LS_PAIR_ID is required (the pair identity, namespace/name)');
  const cfg: ServerConfig = {
    pairId,
    member: opt(env.LS_MEMBER) ?? 'primary',
    peerUrl: opt(env.LS_PEER_URL)?.replace(/\/+$/, ''),
    advertiseUrl: opt(env.LS_ADVERTISE_URL) ?? `${tls ? 'https' : 'http'}://${os.hostname()}:${port}`,
    licenseFile: opt(env.LS_LICENSE_FILE),
    publicKeyFile: opt(env.LS_PUBLIC_KEY_FILE),
    adminTokenFile: opt(env.LS_ADMIN_TOKEN_FILE),
    clientTokenFile: opt(env.LS_CLIENT_TOKEN_FILE),
    allowNoToken: env.LS_ALLOW_NO_TOKEN === 'true',
    tokenGraceMs: int(env, 'LS_TOKEN_GRACE_SECONDS', 300) * 1000,
    stateDir: opt(env.LS_STATE_DIR) ?? '/var/lib/license-server',
    bind: opt(env.LS_BIND) ?? '0.0.0.0',
    port,
    adminPort: int(env, 'LS_ADMIN_PORT', 7071),
    metricsPort: int(env, 'LS_METRICS_PORT', 9464),
    replicationMode: oneOf(env, 'LS_REPLICATION_MODE', ['sync', 'async'] as const, 'sync'),
    syncTimeoutMs: int(env, 'LS_SYNC_TIMEOUT_MS', 500, 1),
    heartbeatMs: int(env, 'LS_HEARTBEAT_MS', 250, 10),
    peerPromiseMs: int(env, 'LS_PEER_PROMISE_MS', DEFAULT_PEER_PROMISE_MS, 100),
    leaseTtlMs: int(env, 'LS_LEASE_TTL_SECONDS', 120, 1) * 1000,
    sweepIntervalMs: int(env, 'LS_SWEEP_INTERVAL_MS', 1000, 10),
    fsync: oneOf(env, 'LS_FSYNC', ['batch', 'always'] as const, 'batch'),
    compactEvery: int(env, 'LS_COMPACT_EVERY', 100_000, 10),
    usageLog: opt(env.LS_USAGE_LOG) ?? 'stdout',
    logLevel: opt(env.LS_LOG_LEVEL) ?? 'info',
    bodyLimit: opt(env.LS_BODY_LIMIT) ?? '16kb',
    requestTimeoutMs: int(env, 'LS_REQUEST_TIMEOUT_MS', 10_000, 100),
    licenceCheckMs: int(env, 'LS_LICENSE_CHECK_MS', 1000, 50),
    tls,
  };
  // A member with TLS serves its admin port over TLS only, and so does its peer.
  if (tls && cfg.peerUrl && !cfg.peerUrl.startsWith('https://'))
    throw new ConfigError(
      `LS_PEER_URL must be https:// when TLS is on (LS_TLS_*_FILE), got "${cfg.peerUrl}"`,
    );
  // An unparsable limit would be no limit at all for the JSON parser.
  try {
    byteSize(cfg.bodyLimit);
  } catch (err) {
    throw new ConfigError(`LS_BODY_LIMIT: ${(err as Error).message}`);
  }
  // Acknowledgements come with heartbeats: a promise shorter than two of them would lapse
  // between acknowledgements of a healthy standby.
  if (cfg.peerPromiseMs < 2 * cfg.heartbeatMs)
    throw new ConfigError(
      `LS_PEER_PROMISE_MS (${cfg.peerPromiseMs}) must be at least twice LS_HEARTBEAT_MS (${cfg.heartbeatMs})`,
    );
  if (!cfg.adminTokenFile && !cfg.allowNoToken)
    throw new ConfigError(
      'LS_ADMIN_TOKEN_FILE is required (set LS_ALLOW_NO_TOKEN=true only for local experiments)',
    );
  if (!cfg.licenseFile || !cfg.publicKeyFile)
    throw new ConfigError('LS_LICENSE_FILE and LS_PUBLIC_KEY_FILE are required');
  return cfg;
}
