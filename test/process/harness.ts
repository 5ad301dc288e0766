// Start real licence-server processes (node src/license-server/main.ts) for process-level tests
// and the benchmark. Output goes to log files (no pipes that could fill up and block a server).
import type { ServingJson } from '../../src/license-server/serving.ts';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const NODE = path.join(ROOT, 'node_modules/.bin/node');
export const MAIN = path.join(ROOT, 'src/license-server/main.ts');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Poll `fn` until it returns a value other than undefined/false, or fail after `ms`. */
export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export type MemberSpec = {
  name: string;
  pairId: string;
  licenceFile: string;
  publicKeyFile: string;
  tokenFile: string;
  stateDir: string;
  logDir: string;
  env?: Record<string, string>;
  /** flags for node itself (--trace-gc and the like, which NODE_OPTIONS does not take) */
  nodeArgs?: string[];
};

export class ServerProcess {
  /** Every server started in this process and not stopped yet (stopAll() on an interrupt). */
  private static readonly running = new Set<ServerProcess>();

  static async stopAll(): Promise<void> {
    await Promise.all([...ServerProcess.running].map((p) => p.stop()));
  }

  readonly spec: MemberSpec;
  ports = { licences: 0, admin: 0, metrics: 0 };
  peerAdmin = 0;
  child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(spec: MemberSpec) {
    this.spec = spec;
  }

  static async create(spec: MemberSpec): Promise<ServerProcess> {
    const p = new ServerProcess(spec);
    p.ports = { licences: await freePort(), admin: await freePort(), metrics: await freePort() };
    return p;
  }

  get clientUrl(): string {
    return `http://127.0.0.1:${this.ports.licences}`;
  }
  get adminUrl(): string {
    return `http://127.0.0.1:${this.ports.admin}`;
  }
  get metricsUrl(): string {
    return `http://127.0.0.1:${this.ports.metrics}`;
  }

  /** Start the process and wait until /healthz answers. */
  async start(peer?: ServerProcess, extraEnv: Record<string, string> = {}): Promise<void> {
    const out = fs.openSync(path.join(this.spec.logDir, `${this.spec.name}.log`), 'a');
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      LS_PAIR_ID: this.spec.pairId,
      LS_MEMBER: this.spec.name,
      LS_LICENSE_FILE: this.spec.licenceFile,
      LS_PUBLIC_KEY_FILE: this.spec.publicKeyFile,
      LS_ADMIN_TOKEN_FILE: this.spec.tokenFile,
      LS_STATE_DIR: this.spec.stateDir,
      LS_BIND: '127.0.0.1',
      LS_PORT: String(this.ports.licences),
      LS_ADMIN_PORT: String(this.ports.admin),
      LS_METRICS_PORT: String(this.ports.metrics),
      LS_ADVERTISE_URL: this.clientUrl,
      LS_USAGE_LOG: path.join(this.spec.logDir, `${this.spec.name}-usage.log`),
      ...(peer ? { LS_PEER_URL: peer.adminUrl } : {}),
      ...this.spec.env,
      ...extraEnv,
    };
    const child = spawn(NODE, [...(this.spec.nodeArgs ?? []), MAIN], { env, stdio: ['ignore', out, out] });
    fs.closeSync(out);
    this.child = child;
    ServerProcess.running.add(this);
    this.exited = new Promise((resolve) =>
      child.once('exit', () => {
        ServerProcess.running.delete(this);
        resolve();
      }),
    );
    await until(`${this.spec.name} /healthz`, async () => {
      if (child.exitCode !== null)
        throw new Error(`${this.spec.name} exited with ${child.exitCode}: ${this.tail()}`);
      const r = await fetch(`${this.adminUrl}/healthz`);
      return r.ok;
    });
  }

  tail(): string {
    try {
      return fs.readFileSync(path.join(this.spec.logDir, `${this.spec.name}.log`), 'utf8').slice(-2000);
    } catch {
      return '';
    }
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill(signal);
    await this.exited;
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

export function adminClient(token: () => string) {
  const headers = (): Record<string, string> => ({
    authorization: `Bearer ${token()}`,
    'content-type': 'application/json',
  });
  return {
    async status(p: ServerProcess): Promise<
      Record<string, unknown> & {
        role: string;
        epoch: number;
        replication: Record<string, unknown>;
        activeLeases: number;
        license: { state: string; message: string; code?: string; lastError?: string; expires?: string };
        serving?: ServingJson;
      }
    > {
      const r = await fetch(`${p.adminUrl}/v1/status`, { headers: headers() });
      if (!r.ok) throw new Error(`status ${r.status}`);
      return (await r.json()) as never;
    },
    async post(
      p: ServerProcess,
      pathname: string,
      body: unknown,
    ): Promise<{ status: number; body: Record<string, unknown> }> {
      const r = await fetch(`${p.adminUrl}${pathname}`, {
        method: 'POST',
        headers: headers(),
        body: JSON.stringify(body),
      });
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    },
    async leases(
      p: ServerProcess,
    ): Promise<{ id: string; clientId: string; feature: string; count: number }[]> {
      const r = await fetch(`${p.adminUrl}/v1/admin/leases`, { headers: headers() });
      return (
        (await r.json()) as { leases: { id: string; clientId: string; feature: string; count: number }[] }
      ).leases;
    },
  };
}
