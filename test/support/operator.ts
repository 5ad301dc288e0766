import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../cluster/config.ts';
import { waitForCrdsEstablished } from './crd-established.ts';

/** Runs the real operator (src/operator/main.ts) as a child process against the test cluster. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export class OperatorProcess {
  child: ChildProcess | undefined;
  metricsPort = 0;
  healthPort = 0;
  readonly logFile: string;
  private exited: Promise<void> = Promise.resolve();
  private readonly env: Record<string, string>;
  private readonly entry: string;

  /** `entry`: the operator's sources by default; a bundle (as in the image) for memory figures. */
  constructor(
    env: Record<string, string>,
    name = 'operator',
    entry = path.join(repoRoot, 'src/operator/main.ts'),
  ) {
    this.env = env;
    this.entry = entry;
    this.logFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lpo-operator-')), `${name}.log`);
  }

  async start(): Promise<void> {
    this.metricsPort = await freePort();
    this.healthPort = await freePort();
    const out = fs.openSync(this.logFile, 'a');
    const child = spawn(path.join(repoRoot, 'node_modules/.bin/node'), [this.entry], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        KUBECONFIG: process.env.KUBECONFIG ?? '',
        METRICS_ADDR: `127.0.0.1:${this.metricsPort}`,
        HEALTH_ADDR: `127.0.0.1:${this.healthPort}`,
        LOG_LEVEL: 'debug',
        ...this.env,
      },
      stdio: ['ignore', out, out],
    });
    fs.closeSync(out);
    this.child = child;
    this.exited = new Promise((r) => child.once('exit', () => r()));
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`operator exited with ${child.exitCode}: ${this.tail()}`);
      try {
        if ((await fetch(`http://127.0.0.1:${this.healthPort}/readyz`)).ok) return;
      } catch {
        // Not listening yet.
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    // Never leave a process behind when the caller gets an error instead of a running operator.
    child.kill('SIGKILL');
    await this.exited;
    throw new Error(`operator not ready in 30 s: ${this.tail()}`);
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async metrics(): Promise<string> {
    return (await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`)).text();
  }

  async metricValue(name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
    const text = await this.metrics();
    for (const line of text.split('\n')) {
      if (!line.startsWith(name)) continue;
      const m = /^([a-zA-Z_:]+)(\{([^}]*)\})?\s+(\S+)/.exec(line);
      if (!m || m[1] !== name) continue;
      const got = Object.fromEntries(
        (m[3] ?? '')
          .split(',')
          .filter(Boolean)
          .map((kv) => {
            const i = kv.indexOf('=');
            return [kv.slice(0, i), kv.slice(i + 2, -1)];
          }),
      );
      if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[4]);
    }
    return undefined;
  }

  tail(n = 3000): string {
    try {
      return fs.readFileSync(this.logFile, 'utf8').slice(-n);
    } catch {
      return '';
    }
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.running) return;
    this.child!.kill(signal);
    await this.exited;
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.child!.kill('SIGTERM');
    const t = setTimeout(() => this.child?.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(t);
  }
}

/** Applies the CRD from crds/ (idempotent) and waits until it is Established. */
export async function ensureCrd(kubectl: (args: string[]) => string): Promise<void> {
  kubectl(['apply', '--server-side', '--force-conflicts', '-f', path.join(repoRoot, 'crds')]);
  waitForCrdsEstablished(kubectl, ['licenseserverpairs.lpo.dev'], 30_000);
}

/**
 * The environment of one operator replica of `ns` with leader election on the Lease `lease`:
 * shorter than the defaults (15/10/2 s) to keep tests short, in the same proportions, and long
 * enough that a busy 2-core machine does not make the leader miss its renewals.
 */
export function leaderElectionEnv(ns: string, id: string, lease: string): Record<string, string> {
  return {
    WATCH_NAMESPACE: ns,
    OPERATOR_NAMESPACE: ns,
    POD_NAME: id,
    LEADER_ELECT: 'true',
    LEASE_NAME: lease,
    LEASE_DURATION_SECONDS: '8',
    RENEW_DEADLINE_SECONDS: '6',
    RETRY_PERIOD_SECONDS: '1',
  };
}
