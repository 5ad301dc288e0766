// TLS for process tests: a CA and certificates made with src/tls, written as the kubelet writes a
// mounted Secret (files behind a ..data symlink swapped atomically), real member processes that
// read them, and https calls to their ports with or without a client certificate.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { issueCertificateAuthority } from '../../src/tls/certificate-authority.ts';
import type { CertificateAuthority } from '../../src/tls/certificate-authority.ts';
import { issueOperatorCertificate } from '../../src/tls/client-certificate.ts';
import type { IssuedCertificate } from '../../src/tls/issued.ts';
import { issueMemberCertificate } from '../../src/tls/member-certificate.ts';
import { PAIR_ID, type Fixture } from '../unit/license-server/fixtures.ts';
import { MAIN, NODE, freePort, until } from './harness.ts';

export const DAY = 86_400_000;

export type Ca = IssuedCertificate & { authority: CertificateAuthority };

export const newCa = (name: string): Promise<Ca> =>
  issueCertificateAuthority({ commonName: name, lifetimeMs: 30 * DAY });

export const memberCert = (ca: Ca, pairId: string, member: string, now?: Date): Promise<IssuedCertificate> =>
  issueMemberCertificate(ca.authority, {
    pairId,
    member,
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
    lifetimeMs: DAY,
    ...(now ? { now } : {}),
  });

export const operatorCert = (ca: Ca): Promise<IssuedCertificate> =>
  issueOperatorCertificate(ca.authority, { lifetimeMs: DAY });

/**
 * A directory laid out like a mounted Secret: tls.crt, tls.key and ca.crt are symlinks into
 * ..data, itself a symlink to a timestamped directory; an update writes a new directory and
 * renames a new ..data over the old one, so readers see the old files or the new ones.
 */
export class SecretDir {
  readonly dir: string;
  private generation = 0;

  constructor(dir: string) {
    this.dir = dir;
    fs.mkdirSync(dir, { recursive: true });
  }

  get certFile(): string {
    return path.join(this.dir, 'tls.crt');
  }
  get keyFile(): string {
    return path.join(this.dir, 'tls.key');
  }
  get caFile(): string {
    return path.join(this.dir, 'ca.crt');
  }

  write(files: { cert: string; key: string; ca: string }): void {
    const previous = this.generation > 0 ? fs.readlinkSync(path.join(this.dir, '..data')) : undefined;
    this.generation += 1;
    const name = `..gen_${this.generation}`;
    fs.mkdirSync(path.join(this.dir, name));
    fs.writeFileSync(path.join(this.dir, name, 'tls.crt'), files.cert);
    fs.writeFileSync(path.join(this.dir, name, 'tls.key'), files.key, { mode: 0o600 });
    fs.writeFileSync(path.join(this.dir, name, 'ca.crt'), files.ca);
    fs.symlinkSync(name, path.join(this.dir, '..data_tmp'));
    fs.renameSync(path.join(this.dir, '..data_tmp'), path.join(this.dir, '..data'));
    if (!previous)
      for (const f of ['tls.crt', 'tls.key', 'ca.crt'])
        fs.symlinkSync(path.join('..data', f), path.join(this.dir, f));
    else fs.rmSync(path.join(this.dir, previous), { recursive: true });
  }
}

export type TlsMemberSpec = {
  name: string;
  pairId: string;
  dir: string;
  licenceFile: string;
  publicKeyFile: string;
  tokenFile: string;
  env?: Record<string, string>;
};

/** The spec of member `name` of the fixture's pair (its licence, key, token and directory). */
export function tlsMemberSpec(fx: Fixture, name: string, env?: Record<string, string>): TlsMemberSpec {
  return {
    name,
    pairId: PAIR_ID,
    dir: fx.dir,
    licenceFile: fx.licenceFile,
    publicKeyFile: fx.publicKeyFile,
    tokenFile: fx.tokenFile,
    ...(env ? { env } : {}),
  };
}

/** A member process with TLS on, its Secret directory, and its log. */
export class TlsMember {
  readonly spec: TlsMemberSpec;
  readonly secret: SecretDir;
  ports = { licences: 0, admin: 0, metrics: 0 };
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  private constructor(spec: TlsMemberSpec) {
    this.spec = spec;
    this.secret = new SecretDir(path.join(spec.dir, `secret-${spec.name}`));
  }

  static async create(spec: TlsMemberSpec): Promise<TlsMember> {
    const m = new TlsMember(spec);
    m.ports = { licences: await freePort(), admin: await freePort(), metrics: await freePort() };
    return m;
  }

  get clientUrl(): string {
    return `https://127.0.0.1:${this.ports.licences}`;
  }
  get adminUrl(): string {
    return `https://127.0.0.1:${this.ports.admin}`;
  }
  get metricsUrl(): string {
    return `http://127.0.0.1:${this.ports.metrics}`;
  }
  get pid(): number | undefined {
    return this.child?.pid;
  }
  get logFile(): string {
    return path.join(this.spec.dir, `${this.spec.name}.log`);
  }

  log(): string {
    try {
      return fs.readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** How many log lines have this message. */
  logged(msg: string): number {
    return this.log()
      .split('\n')
      .filter((l) => l.includes(`"msg":"${msg}"`)).length;
  }

  /**
   * Start and wait for /healthz over TLS, verified against `ca` (`verify: false`: a member
   * started with a certificate the test knows is bad).
   */
  async start(peer: TlsMember | undefined, ca: string, verify = true): Promise<void> {
    const stateDir = path.join(this.spec.dir, `state-${this.spec.name}`);
    fs.mkdirSync(stateDir, { recursive: true });
    const out = fs.openSync(this.logFile, 'a');
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      LS_PAIR_ID: this.spec.pairId,
      LS_MEMBER: this.spec.name,
      LS_LICENSE_FILE: this.spec.licenceFile,
      LS_PUBLIC_KEY_FILE: this.spec.publicKeyFile,
      LS_ADMIN_TOKEN_FILE: this.spec.tokenFile,
      LS_STATE_DIR: stateDir,
      LS_BIND: '127.0.0.1',
      LS_PORT: String(this.ports.licences),
      LS_ADMIN_PORT: String(this.ports.admin),
      LS_METRICS_PORT: String(this.ports.metrics),
      LS_ADVERTISE_URL: this.clientUrl,
      LS_USAGE_LOG: 'off',
      LS_TLS_CERT_FILE: this.secret.certFile,
      LS_TLS_KEY_FILE: this.secret.keyFile,
      LS_TLS_CA_FILE: this.secret.caFile,
      LS_TLS_RELOAD_MS: '200',
      ...(peer ? { LS_PEER_URL: peer.adminUrl } : {}),
      ...this.spec.env,
    };
    const child = spawn(NODE, [MAIN], { env, stdio: ['ignore', out, out] });
    fs.closeSync(out);
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    await until(`${this.spec.name} /healthz over TLS`, async () => {
      if (child.exitCode !== null)
        throw new Error(`${this.spec.name} exited with ${child.exitCode}: ${this.log().slice(-2000)}`);
      return (await call(this.adminUrl, '/healthz', { ca, verify })).status === 200;
    });
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(t);
  }
}

export type CallOptions = {
  ca: string;
  cert?: IssuedCertificate;
  token?: string;
  method?: 'GET' | 'POST';
  body?: unknown;
  headers?: Record<string, string>;
  /** false: accept any server certificate (default true) */
  verify?: boolean;
};

/** One https call on a new connection: the status and JSON body (or the connection's error). */
export function call(
  base: string,
  pathname: string,
  o: CallOptions,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
  return new Promise((resolve, reject) => {
    const req = https.request(new URL(pathname, base), {
      method: o.method ?? 'GET',
      agent: false,
      ca: o.ca,
      rejectUnauthorized: o.verify ?? true,
      ...(o.cert ? { cert: o.cert.certPem, key: o.cert.keyPem } : {}),
      timeout: 5000,
      headers: {
        ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
        ...(payload !== undefined ? { 'content-type': 'application/json' } : {}),
        ...o.headers,
      },
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${base}${pathname} within 5 s`)));
    req.on('error', reject);
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, body: {} });
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        let body: Record<string, unknown> = {};
        try {
          body = JSON.parse(text) as Record<string, unknown>;
        } catch {
          // not JSON: the status says enough
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.end(payload);
  });
}

/** Promotes `m` as the operator does: its client certificate and the admin token. */
export function promoteAsOperator(
  m: TlsMember,
  o: { ca: string; operator: IssuedCertificate; token: string; epoch?: number },
): Promise<{ status: number; body: Record<string, unknown> }> {
  return call(m.adminUrl, '/v1/admin/promote', {
    ca: o.ca,
    cert: o.operator,
    token: o.token,
    method: 'POST',
    body: { epoch: o.epoch ?? 1 },
  });
}
