import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { clusterDir, logDir, runDir } from './config.ts';

/** Starting, finding and stopping the cluster's host processes, by pid file and by command line. */

export function log(message: string): void {
  const t = new Date().toISOString().slice(11, 19);
  process.stderr.write(`${t} [cluster] ${message}\n`);
}

export function pidFile(name: string): string {
  return path.join(runDir, `${name}.pid`);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // A zombie still answers kill(0) but is not running.
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

export function runningPid(name: string): number | undefined {
  if (!existsSync(pidFile(name))) return undefined;
  const pid = Number(readFileSync(pidFile(name), 'utf8').trim());
  return pid > 0 && isAlive(pid) ? pid : undefined;
}

export function startProcess(name: string, bin: string, args: string[], env: NodeJS.ProcessEnv = {}): number {
  mkdirSync(logDir, { recursive: true });
  mkdirSync(runDir, { recursive: true });
  const out = openSync(path.join(logDir, `${name}.log`), 'a');
  const child = spawn(bin, args, {
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, ...env },
  });
  closeSync(out);
  if (child.pid === undefined) throw new Error(`could not start ${name} (${bin})`);
  child.unref();
  writeFileSync(pidFile(name), `${child.pid}\n`);
  return child.pid;
}

/**
 * Every process of the cluster, including ones whose pid file is gone (a crashed `up`, a deleted
 * state directory): they are recognised by the cluster directory on their command line.
 */
export function clusterProcesses(): { pid: number; cmd: string }[] {
  const found: { pid: number; cmd: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmd.includes(clusterDir + '/') && !cmd.includes('test/cluster/cluster.ts') && isAlive(pid)) {
        found.push({ pid, cmd });
      }
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

async function waitGone(pids: number[], ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  let alive = pids.filter(isAlive);
  while (alive.length && Date.now() < deadline) {
    await sleep(100);
    alive = alive.filter(isAlive);
  }
  return alive;
}

export async function stopPids(pids: number[], graceMs = 5000): Promise<void> {
  for (const pid of pids) signal(pid, 'SIGTERM');
  const left = await waitGone(pids, graceMs);
  for (const pid of left) signal(pid, 'SIGKILL');
  await waitGone(left, 5000);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

export async function stopProcess(name: string, graceMs = 5000): Promise<boolean> {
  const pid = runningPid(name);
  rmSync(pidFile(name), { force: true });
  if (pid === undefined) return false;
  await stopPids([pid], graceMs);
  return true;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resolves true when something accepts TCP connections on host:port. */
export function portInUse(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(true));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(false)));
  });
}

export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  logName?: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    if (logName && runningPid(logName) === undefined) {
      throw new Error(
        `${logName} exited while waiting for ${what}; last lines of ${path.join(logDir, logName + '.log')}:\n${tail(logName)}`,
      );
    }
    await sleep(250);
  }
  throw new Error(
    `timed out after ${timeoutMs / 1000}s waiting for ${what}` +
      (logName ? `; last lines of its log:\n${tail(logName)}` : ''),
  );
}

export function tail(name: string, lines = 15): string {
  try {
    return readFileSync(path.join(logDir, `${name}.log`), 'utf8')
      .trimEnd()
      .split('\n')
      .slice(-lines)
      .join('\n');
  } catch {
    return '(no log)';
  }
}
