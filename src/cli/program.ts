// The lspctl command tree. Other modules add commands through registerCommands() (for example
// src/cli/pair-commands.ts: `pair status`, `pair switchover` through the Kubernetes API); they
// are imported by lspctl.ts before buildProgram() runs.
import fs from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import YAML from 'yaml';
import { LicenseClient, LicenseError } from '../client/client.ts';
import {
  LicenceError,
  generateIssuerKeys,
  parseAndVerify,
  signLicence,
  verifyLicence,
} from '../license-server/licence-file.ts';
import type { StatusJson } from '../license-server/protocol.ts';

/** Exit codes, for scripts. */
export const EXIT = {
  OK: 0,
  /** a refusal: invalid licence, denied checkout, not ready */
  REFUSED: 1,
  /** wrong usage */
  USAGE: 2,
  /** no server answered */
  UNAVAILABLE: 3,
} as const;

export type Registration = (program: Command, io: Io) => void;
const registrations: Registration[] = [];

/** Add commands to lspctl (called at import time by command modules). */
export function registerCommands(fn: Registration): void {
  registrations.push(fn);
}

export type Io = { out: (s: string) => void; err: (s: string) => void };
const defaultIo: Io = {
  out: (s) => process.stdout.write(`${s}\n`),
  err: (s) => process.stderr.write(`${s}\n`),
};

/** Thrown by commands to end with an exit code (lspctl.ts maps it to process.exitCode). */
export class CliExit extends Error {
  override name = 'CliExit';
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

function readText(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliExit(EXIT.USAGE, `cannot read ${what} ${file}: ${(err as Error).message}`);
  }
}

const positiveInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
};

function tokenFrom(opts: { token?: string; tokenFile?: string }): string | undefined {
  if (opts.tokenFile) return readText(opts.tokenFile, 'token file').trim();
  return opts.token ?? process.env.LSPCTL_TOKEN;
}

function clientError(err: unknown): CliExit {
  if (err instanceof LicenseError)
    return new CliExit(
      err.code === 'UNAVAILABLE' ? EXIT.UNAVAILABLE : EXIT.REFUSED,
      `${err.code}: ${err.message}`,
    );
  return new CliExit(EXIT.UNAVAILABLE, (err as Error).message);
}

export function buildProgram(io: Io = defaultIo): Command {
  const program = new Command('lspctl')
    .description('licence-server pair tools: licence files, checkout/release, server status')
    .showHelpAfterError();

  program
    .command('keygen')
    .description('make an Ed25519 issuer key pair (private-key.pem, public-key.pem)')
    .requiredOption('--out-dir <dir>', 'where to write the keys')
    .option('--force', 'overwrite existing keys')
    .action((opts: { outDir: string; force?: boolean }) => {
      const priv = path.join(opts.outDir, 'private-key.pem');
      const pub = path.join(opts.outDir, 'public-key.pem');
      if (!opts.force && (fs.existsSync(priv) || fs.existsSync(pub)))
        throw new CliExit(EXIT.USAGE, `${opts.outDir} already has keys (use --force to overwrite)`);
      fs.mkdirSync(opts.outDir, { recursive: true });
      const keys = generateIssuerKeys();
      fs.writeFileSync(priv, keys.privateKeyPem, { mode: 0o600 });
      fs.writeFileSync(pub, keys.publicKeyPem);
      io.out(`wrote ${priv} (keep it secret) and ${pub}`);
    });

  const licence = program.command('license').description('licence-file tools');
  licence
    .command('sign')
    .description('sign a licence body (JSON or YAML, without "signature")')
    .requiredOption('--key <file>', 'issuer private key (PEM)')
    .requiredOption('--in <file>', 'licence body: format, issuedTo, issuer, issued, features')
    .option('--out <file>', 'write the signed licence here (default: stdout)')
    .action((opts: { key: string; in: string; out?: string }) => {
      const text = readText(opts.in, 'licence body');
      let body: unknown;
      try {
        body = YAML.parse(text);
      } catch (err) {
        throw new CliExit(EXIT.USAGE, `${opts.in} is not JSON or YAML: ${(err as Error).message}`);
      }
      if (body && typeof body === 'object' && 'signature' in body) {
        const { signature: _s, ...rest } = body as Record<string, unknown>;
        body = rest;
      }
      try {
        const signed = JSON.stringify(signLicence(body, readText(opts.key, 'private key')), null, 2);
        if (opts.out) {
          fs.writeFileSync(opts.out, `${signed}\n`);
          io.out(`wrote ${opts.out}`);
        } else io.out(signed);
      } catch (err) {
        if (err instanceof LicenceError) throw new CliExit(EXIT.REFUSED, err.message);
        throw err;
      }
    });
  licence
    .command('inspect')
    .description('show what a licence file grants (checks the signature when --public-key is given)')
    .argument('<file>')
    .option('--public-key <file>', 'issuer public key (PEM)')
    .option('--json', 'print JSON')
    .action((file: string, opts: { publicKey?: string; json?: boolean }) => {
      const text = readText(file, 'licence file');
      let lic: Record<string, unknown> & { features?: Record<string, unknown>[] };
      let sig = 'not checked (no --public-key)';
      try {
        if (opts.publicKey) {
          lic = parseAndVerify(text, readText(opts.publicKey, 'public key'));
          sig = 'valid';
        } else lic = JSON.parse(text) as typeof lic;
      } catch (err) {
        throw new CliExit(EXIT.REFUSED, (err as Error).message);
      }
      if (opts.json) return io.out(JSON.stringify({ ...lic, signatureCheck: sig }, null, 2));
      io.out(`issued to: ${String(lic.issuedTo)}`);
      io.out(`issuer:    ${String(lic.issuer)}`);
      io.out(`issued:    ${String(lic.issued)}`);
      io.out(`signature: ${sig}`);
      for (const f of lic.features ?? []) {
        const extras = ['reserved', 'maxPerUser', 'maxPerHost', 'exclude', 'lingerSeconds']
          .filter((k) => f[k] !== undefined)
          .map((k) => `${k}=${JSON.stringify(f[k])}`);
        io.out(
          `  ${String(f.name)}: ${String(f.seats)} seats, ${String(f.start)} .. ${String(f.expiry)}` +
            (extras.length ? ` ${extras.join(' ')}` : ''),
        );
      }
    });
  licence
    .command('verify')
    .description('check signature, identity and dates as the server does (exit 0 when valid)')
    .argument('<file>')
    .requiredOption('--public-key <file>', 'issuer public key (PEM)')
    .option('--pair-id <namespace/name>', 'the pair the licence must be issued to')
    .action((file: string, opts: { publicKey: string; pairId?: string }) => {
      try {
        const v = verifyLicence(readText(file, 'licence file'), readText(opts.publicKey, 'public key'), {
          pairId: opts.pairId,
          now: Date.now(),
        });
        io.out(`valid: ${v.summary}`);
      } catch (err) {
        if (err instanceof LicenceError) throw new CliExit(EXIT.REFUSED, `invalid: ${err.message}`);
        throw err;
      }
    });

  const clientOpts = (c: Command): Command =>
    c
      .requiredOption('--url <url...>', 'licence server URL(s), tried in order (or LSPCTL_URL)')
      .requiredOption('--client-id <id>', 'client identity (the same id gets the same lease back)')
      .option('--token <token>', 'client token (or LSPCTL_TOKEN)')
      .option('--token-file <file>', 'read the client token from a file')
      .option('--timeout <ms>', 'give up after this many ms', positiveInt, 20_000);

  clientOpts(program.command('checkout'))
    .description('check out seats; prints the lease as JSON (exit 1 when denied, 3 when unreachable)')
    .requiredOption('--feature <name>')
    .option('--count <n>', 'seats', positiveInt, 1)
    .option('--user <user>', 'user name', process.env.USER ?? 'unknown')
    .option('--host <host>', 'host name', process.env.HOSTNAME ?? 'unknown')
    .option('--hold', 'keep the lease, renewing it, until SIGINT/SIGTERM; then release it')
    .action(
      async (opts: {
        url: string[];
        clientId: string;
        feature: string;
        count: number;
        user: string;
        host: string;
        hold?: boolean;
        token?: string;
        tokenFile?: string;
        timeout: number;
      }) => {
        const client = new LicenseClient({
          addresses: opts.url,
          clientId: opts.clientId,
          user: opts.user,
          host: opts.host,
          token: tokenFrom(opts),
          retryBudgetMs: opts.timeout,
          autoRenew: Boolean(opts.hold),
          onEvent: (e) => {
            if (e.type !== 'retry' && opts.hold) io.err(JSON.stringify(e));
          },
        });
        let lease;
        try {
          lease = await client.checkout(opts.feature, opts.count);
        } catch (err) {
          throw clientError(err);
        }
        io.out(JSON.stringify(lease));
        if (!opts.hold) return client.close();
        await new Promise<void>((resolve) => {
          const done = (): void => resolve();
          process.once('SIGINT', done);
          process.once('SIGTERM', done);
        });
        try {
          await client.releaseAll();
        } finally {
          client.close();
        }
      },
    );

  clientOpts(program.command('release'))
    .description('release a lease')
    .requiredOption('--lease-id <id>')
    .action(
      async (opts: {
        url: string[];
        clientId: string;
        leaseId: string;
        token?: string;
        tokenFile?: string;
        timeout: number;
      }) => {
        const client = new LicenseClient({
          addresses: opts.url,
          clientId: opts.clientId,
          user: 'lspctl',
          host: 'lspctl',
          token: tokenFrom(opts),
          retryBudgetMs: opts.timeout,
          autoRenew: false,
        });
        try {
          await client.release(opts.leaseId);
        } catch (err) {
          throw clientError(err);
        }
        io.out(JSON.stringify({ released: true, leaseId: opts.leaseId }));
      },
    );

  const server = program.command('server').description('talk to one licence-server member');
  server
    .command('status')
    .description("a member's role, epoch, licence and replication (admin port; exit 1 when not ready)")
    .requiredOption('--url <url>', 'admin URL of the member, e.g. http://127.0.0.1:7071')
    .option('--token <token>', 'admin token (or LSPCTL_TOKEN)')
    .option('--token-file <file>', 'read the admin token from a file')
    .option('--json', 'print the status JSON')
    .action(async (opts: { url: string; token?: string; tokenFile?: string; json?: boolean }) => {
      const token = tokenFrom(opts);
      let res: Response;
      try {
        res = await fetch(`${opts.url.replace(/\/+$/, '')}/v1/status`, {
          headers: token ? { authorization: `Bearer ${token}` } : {},
          signal: AbortSignal.timeout(5000),
        });
      } catch (err) {
        throw new CliExit(EXIT.UNAVAILABLE, `${opts.url}: ${(err as Error).message}`);
      }
      const body = (await res.json().catch(() => ({}))) as StatusJson & { code?: string; message?: string };
      if (!res.ok) throw new CliExit(EXIT.REFUSED, `${body.code ?? res.status}: ${body.message ?? ''}`);
      if (opts.json) io.out(JSON.stringify(body, null, 2));
      else {
        const r = body.replication;
        io.out(`${body.member} (${body.pairId}): ${body.role}, epoch ${body.epoch}, ready=${body.ready}`);
        io.out(`licence: ${body.license.state}: ${body.license.message}`);
        if (body.license.lastError) io.out(`licence error: ${body.license.lastError}`);
        io.out(
          `replication: ${r.state} (${r.mode}), seq ${r.lastSeq}, lag ${r.lagEntries} entries / ${r.lagSeconds}s, ` +
            `peer seen ${r.peerLastSeenSeconds ?? 'never'}s ago, skew ${r.clockSkewSeconds ?? '?'}s`,
        );
        io.out(`leases: ${body.activeLeases}`);
      }
      if (!body.ready) throw new CliExit(EXIT.REFUSED, 'not ready');
    });

  for (const register of registrations) register(program, io);
  return program;
}
