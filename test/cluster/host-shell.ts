import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Running the machine's tools, and finding what the cluster left in the machine's tables and processes. */

export function sh(cmd: string, args: string[], opts: { allowFail?: boolean; input?: string } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input });
  if (r.status !== 0 && !opts.allowFail) {
    throw new Error(
      `${cmd} ${args.join(' ')} failed (${r.status}): ${(r.stderr || r.stdout || String(r.error)).trim()}`,
    );
  }
  return r.stdout ?? '';
}

export function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Drops every iptables line (chains, rules, jumps) that matches `pattern` from `tables`, leaving
 * every other rule of the machine as it was: each table is saved, filtered and restored atomically.
 */
export function dropIptablesLines(pattern: RegExp, tables: readonly string[]): void {
  for (const [save, restore] of [
    ['iptables-save', 'iptables-restore'],
    ['ip6tables-save', 'ip6tables-restore'],
  ] as const) {
    if (!hasCommand(save)) continue;
    for (const table of tables) {
      const dump = sh(save, ['-t', table], { allowFail: true });
      if (!pattern.test(dump)) continue;
      const kept = dump
        .split('\n')
        .filter((line) => !pattern.test(line))
        .join('\n');
      sh(restore, ['-T', table], { input: kept + '\n', allowFail: true });
    }
  }
}

/** Pids of the containerd shims whose command line names `socket` (a node's, or the sockets' dir). */
export function shimPids(socket: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmd.startsWith('/usr/bin/containerd-shim') && cmd.includes(socket)) pids.push(Number(entry));
    } catch {
      // Gone while we looked.
    }
  }
  return pids;
}

/** Installs Debian packages with apt-get (updating the package lists once if the first try fails). */
export function aptInstall(packages: string[]): void {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () =>
    spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], {
      stdio: 'inherit',
      env,
    }).status === 0;
  if (install()) return;
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  if (!install())
    throw new Error(`could not install ${packages.join(' ')} with apt-get; install them by hand and retry`);
}
