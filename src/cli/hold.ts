// `lspctl checkout FEATURE --hold [-- COMMAND [ARGS…]]`: check a licence out, keep it renewed in
// the background (the client's heartbeat), run the command with the terminal's stdio, release
// the licence when the command ends (or on SIGTERM/SIGINT/SIGHUP, forwarded to the command
// first), and end with the command's exit status. lspctl's own outcomes have exit codes of their
// own (HOLD_EXIT) that a command seldom uses, so a script can tell them from the command's.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import os from 'node:os';
import { CliExit } from './command-io.ts';
import {
  LeaseLostError,
  LicenseClient,
  LicenseRefusedError,
  LicenseUnavailableError,
  NoSeatError,
  TlsCertificateError,
} from '../client/client.ts';
import type { ClientEvent, LeaseJson, LicenseClientOptions } from '../client/client.ts';

/** Exit codes of `checkout --hold` for what happens to the licence (the command's own status otherwise). */
export const HOLD_EXIT = {
  /** no seat free (NO_SEATS, USER_LIMIT, HOST_LIMIT); the command was not run */
  NO_SEAT: 121,
  /** refused for good (unknown feature, excluded, licence expired, bad request, wrong token, a server certificate that cannot be accepted); not run */
  REFUSED: 122,
  /** no licence server answered within the retry budget; not run */
  UNAVAILABLE: 123,
  /** the lease was lost while the command ran; the command was sent SIGTERM */
  LEASE_LOST: 124,
  /** the command exists but cannot be run (permission) */
  CANNOT_RUN: 126,
  /** the command was not found */
  NOT_FOUND: 127,
} as const;

/** How long a command told to stop because its lease was lost has before SIGKILL. */
export const LOST_KILL_AFTER_MS = 10_000;

const FORWARDED = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
type Forwarded = (typeof FORWARDED)[number];

export type HoldOptions = {
  client: Omit<LicenseClientOptions, 'onEvent' | 'autoRenew'>;
  feature: string;
  count: number;
  /** empty: hold until a signal, printing the lease */
  command: string[];
  verbose: boolean;
  out: (s: string) => void;
  err: (s: string) => void;
};

const signalNumber = (s: NodeJS.Signals): number => os.constants.signals[s] ?? 0;

function checkoutFailure(err: unknown, feature: string): CliExit {
  if (err instanceof NoSeatError)
    return new CliExit(HOLD_EXIT.NO_SEAT, `no seat of ${feature} is free: ${err.message}`);
  if (err instanceof LicenseUnavailableError)
    return new CliExit(HOLD_EXIT.UNAVAILABLE, `the licence server is unreachable: ${err.message}`);
  if (err instanceof LicenseRefusedError) return new CliExit(HOLD_EXIT.REFUSED, err.message);
  // final like a refusal (retrying cannot change a certificate); its message names the fix
  if (err instanceof TlsCertificateError) return new CliExit(HOLD_EXIT.REFUSED, err.message);
  return new CliExit(HOLD_EXIT.UNAVAILABLE, `checkout of ${feature} failed: ${(err as Error).message}`);
}

/**
 * Run the hold mode; resolves with the exit code (the command's status, or 128 + the number of
 * the signal that ended it), rejects with CliExit for lspctl's own outcomes.
 */
export async function hold(o: HoldOptions): Promise<number> {
  let lost: ((e: LeaseLostError) => void) | undefined;
  const lostEarly: LeaseLostError[] = [];
  const client = new LicenseClient({
    ...o.client,
    autoRenew: true,
    onEvent: (e: ClientEvent) => {
      if (o.verbose) o.err(JSON.stringify(e.type === 'lease-lost' ? { ...e, reason: undefined } : e));
      if (e.type === 'lease-lost') {
        if (lost) lost(e.reason);
        else lostEarly.push(e.reason);
      }
    },
  });
  let signalled: Forwarded | undefined;
  let onSignal: ((s: Forwarded) => void) | undefined;
  const handlers = FORWARDED.map((s) => {
    const h = (): void => {
      signalled ??= s;
      onSignal?.(s);
    };
    process.on(s, h);
    return [s, h] as const;
  });
  try {
    let lease: LeaseJson;
    try {
      lease = await client.checkout(o.feature, o.count);
    } catch (err) {
      throw checkoutFailure(err, o.feature);
    }
    if (signalled) {
      await release(client, lease, o.err);
      return 128 + signalNumber(signalled);
    }
    if (o.command.length === 0) {
      o.out(JSON.stringify(lease));
      // The client's timers do not keep the process alive (nor do signal handlers): this does.
      const keepAlive = setInterval(() => {}, 60_000);
      const reason = await new Promise<LeaseLostError | undefined>((resolve) => {
        onSignal = () => resolve(undefined);
        lost = resolve;
        if (lostEarly[0]) resolve(lostEarly[0]);
      }).finally(() => clearInterval(keepAlive));
      if (reason) throw new CliExit(HOLD_EXIT.LEASE_LOST, `lost ${describe(lease)}: ${reason.message}`);
      await release(client, lease, o.err);
      return 0;
    }
    return await runCommand(o, client, lease, {
      onSignal: (fn) => (onSignal = fn),
      onLost: (fn) => {
        lost = fn;
        if (lostEarly[0]) fn(lostEarly[0]);
      },
    });
  } finally {
    for (const [s, h] of handlers) process.off(s, h);
    client.close();
  }
}

const describe = (l: LeaseJson): string =>
  `lease ${l.id} of ${l.feature} (${l.count} seat${l.count === 1 ? '' : 's'})`;

async function release(client: LicenseClient, lease: LeaseJson, err: (s: string) => void): Promise<void> {
  try {
    await client.release(lease.id);
  } catch (e) {
    // The command's status stands; the lease expires on the server unless renewed.
    err(
      `lspctl: warning: could not release ${describe(lease)}: ${(e as Error).message} ` +
        `(it expires ${lease.expiresInSeconds} s after its last renewal)`,
    );
  }
}

async function runCommand(
  o: HoldOptions,
  client: LicenseClient,
  lease: LeaseJson,
  wire: {
    onSignal: (fn: (s: Forwarded) => void) => void;
    onLost: (fn: (e: LeaseLostError) => void) => void;
  },
): Promise<number> {
  const [file, ...args] = o.command as [string, ...string[]];
  const child: ChildProcess = spawn(file, args, {
    stdio: 'inherit',
    env: {
      ...process.env,
      LSPCTL_LEASE_ID: lease.id,
      LSPCTL_LEASE_FEATURE: lease.feature,
      LSPCTL_CLIENT_ID: lease.clientId,
    },
  });
  let lostReason: LeaseLostError | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  const ended = new Promise<{ status: number } | { error: NodeJS.ErrnoException }>((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) => resolve({ error }));
    child.once('exit', (code, signal) =>
      resolve({ status: code ?? 128 + (signal ? signalNumber(signal) : 0) }),
    );
  });
  wire.onSignal((s) => {
    // Ctrl-C at a terminal reaches the command directly (same process group): not sent twice.
    if (s === 'SIGINT' && process.stdin.isTTY) return;
    if (child.exitCode === null && child.signalCode === null) child.kill(s);
  });
  wire.onLost((reason) => {
    if (lostReason || child.exitCode !== null || child.signalCode !== null) return;
    lostReason = reason;
    o.err(
      `lspctl: lost ${describe(lease)} while ${file} (pid ${child.pid ?? '?'}) runs: ${reason.message}; ` +
        `sending it SIGTERM (SIGKILL after ${LOST_KILL_AFTER_MS / 1000} s)`,
    );
    child.kill('SIGTERM');
    killTimer = setTimeout(() => child.kill('SIGKILL'), LOST_KILL_AFTER_MS);
    killTimer.unref(); // the child keeps lspctl alive while it runs
  });
  const end = await ended;
  clearTimeout(killTimer);
  if ('error' in end) {
    await release(client, lease, o.err);
    const code = end.error.code === 'ENOENT' ? HOLD_EXIT.NOT_FOUND : HOLD_EXIT.CANNOT_RUN;
    throw new CliExit(code, `cannot run ${file}: ${end.error.message}`);
  }
  if (lostReason)
    throw new CliExit(
      HOLD_EXIT.LEASE_LOST,
      `${file} was stopped (exit status ${end.status}): lost ${describe(lease)}: ${lostReason.message}`,
    );
  await release(client, lease, o.err);
  return end.status;
}
