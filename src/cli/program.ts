// The lspctl command tree. Other modules add commands through registerCommands() (for example
// src/cli/pair-commands.ts: `pair status`, `pair switchover` through the Kubernetes API); they
// are imported by lspctl.ts before buildProgram() runs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { Command, InvalidArgumentError, Option } from 'commander';
import YAML from 'yaml';
import {
  LicenseClient,
  LicenseError,
  LicenseUnavailableError,
  RETRY_DEFAULTS,
  TlsCertificateError,
} from '../client/client.ts';
import { adminGet } from './admin-get.ts';
import type { AdminAnswer } from './admin-get.ts';
import { HoldExit, hold } from './hold.ts';
import { addTlsOptions, clientTls } from './tls-options.ts';
import type { TlsFlags } from './tls-options.ts';
import {
  LicenceError,
  generateIssuerKeys,
  parseAndVerify,
  signLicence,
  verifyLicence,
} from '../license-server/licence-file.ts';
import type { StatusJson } from '../license-server/protocol.ts';

export { HOLD_EXIT } from './hold.ts';

/** Exit codes, for scripts (`checkout --hold` has its own for the licence: HOLD_EXIT). */
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
  if (err instanceof LicenseUnavailableError) return new CliExit(EXIT.UNAVAILABLE, err.message);
  if (err instanceof LicenseError) return new CliExit(EXIT.REFUSED, err.message);
  return new CliExit(EXIT.UNAVAILABLE, (err as Error).message);
}

/** `--url` values (several after one --url, repeated, or LSPCTL_URL: separated by commas or spaces). */
const urlList = (v: string, prev: string[] | undefined): string[] => {
  const urls = v.split(/[\s,]+/).filter(Boolean);
  for (const u of urls)
    if (!/^https?:\/\/[^/]/.test(u))
      throw new InvalidArgumentError(
        `${JSON.stringify(u)} is not an http(s) URL (the FEATURE goes before --url, or after another option)`,
      );
  return [...(prev ?? []), ...urls];
};

/** The admin URL of `server status`, as the base its paths are resolved against. */
const adminUrl = (v: string): URL => {
  if (!/^https?:\/\/[^/]/.test(v))
    throw new InvalidArgumentError(`${JSON.stringify(v)} is not an http(s) URL`);
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new InvalidArgumentError(`${JSON.stringify(v)} is not a valid URL`);
  }
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
};

export function buildProgram(io: Io = defaultIo): Command {
  const program = new Command('lspctl')
    .description('licence-server pair tools: licence files, checkout/release, server status')
    .showHelpAfterError()
    // before any subcommand is added, so that each inherits it: a usage error reaches lspctl.ts as
    // a CommanderError (exit 2) instead of exiting with 1 where commander finds it
    .exitOverride();

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

  const clientOpts = (c: Command, clientIdRequired: boolean): Command =>
    addTlsOptions(
      c
        .addOption(
          new Option('--url <url...>', "licence server URL(s): the pair's Service, or members tried in order")
            .env('LSPCTL_URL')
            .argParser(urlList)
            .makeOptionMandatory(),
        )
        .addOption(
          new Option(
            '--client-id <id>',
            clientIdRequired
              ? 'client identity the lease was checked out with'
              : 'client identity: the same id gets the same lease back (default: a new one per run)',
          ).makeOptionMandatory(clientIdRequired),
        )
        .option('--token <token>', 'client token (or LSPCTL_TOKEN)')
        .option('--token-file <file>', 'read the client token from a file')
        .option(
          '--timeout <ms>',
          'retry budget of each call: give up after this many ms',
          positiveInt,
          RETRY_DEFAULTS.budgetMs,
        ),
      'for a server that asks for one (the licence port does not)',
    );

  clientOpts(program.command('checkout'), false)
    .description(
      'check out seats; prints the lease as JSON (exit 1 when denied, 3 when unreachable). With --hold: ' +
        'keep it renewed until SIGINT/SIGTERM, or while COMMAND runs, then release it (see docs/cli.md for the exit codes)',
    )
    .argument('[feature]', 'the feature to check out (or --feature)')
    .argument('[command...]', 'with --hold: the command to run while the lease is held (after --)')
    .usage('[options] FEATURE [--hold [-- COMMAND [ARGS...]]]')
    .option('--feature <name>', 'the feature (instead of the FEATURE argument)')
    .option('--count <n>', 'seats', positiveInt, 1)
    .option('--user <user>', 'user name', process.env.USER ?? 'unknown')
    .option('--host <host>', 'host name', process.env.HOSTNAME ?? os.hostname())
    .option(
      '--hold',
      'keep the lease, renewing it, until SIGINT/SIGTERM or until COMMAND ends; then release it',
    )
    .option('--verbose', "with --hold: print the client's events (retries, renewals) as JSON lines on stderr")
    .action(
      async (
        featureArg: string | undefined,
        rest: string[],
        opts: TlsFlags & {
          url: string[];
          clientId?: string;
          feature?: string;
          count: number;
          user: string;
          host: string;
          hold?: boolean;
          verbose?: boolean;
          token?: string;
          tokenFile?: string;
          timeout: number;
        },
      ) => {
        // With --feature every argument is the command; otherwise the first one is the feature.
        const feature = opts.feature ?? featureArg;
        const command = opts.feature !== undefined && featureArg !== undefined ? [featureArg, ...rest] : rest;
        if (!feature) throw new CliExit(EXIT.USAGE, 'checkout needs a FEATURE (or --feature)');
        if (command.length > 0 && !opts.hold)
          throw new CliExit(EXIT.USAGE, `a command to run (${command[0]}) needs --hold`);
        const clientOptions = {
          addresses: opts.url,
          clientId:
            opts.clientId ??
            `${opts.user}@${opts.host}/lspctl-${process.pid}-${crypto.randomBytes(3).toString('hex')}`,
          user: opts.user,
          host: opts.host,
          token: tokenFrom(opts),
          retryBudgetMs: opts.timeout,
          ...clientTls(opts),
        };
        if (opts.hold) {
          let code: number;
          try {
            code = await hold({
              client: clientOptions,
              feature,
              count: opts.count,
              command,
              verbose: Boolean(opts.verbose),
              out: io.out,
              err: io.err,
            });
          } catch (err) {
            if (err instanceof HoldExit) throw new CliExit(err.code, err.message);
            throw err;
          }
          if (code !== 0) throw new CliExit(code, '');
          return;
        }
        const client = new LicenseClient({ ...clientOptions, autoRenew: false });
        try {
          io.out(JSON.stringify(await client.checkout(feature, opts.count)));
        } catch (err) {
          throw clientError(err);
        } finally {
          client.close();
        }
      },
    );

  clientOpts(program.command('release'), true)
    .description('release a lease')
    .requiredOption('--lease-id <id>')
    .action(
      async (
        opts: TlsFlags & {
          url: string[];
          clientId: string;
          leaseId: string;
          token?: string;
          tokenFile?: string;
          timeout: number;
        },
      ) => {
        const client = new LicenseClient({
          addresses: opts.url,
          clientId: opts.clientId,
          user: 'lspctl',
          host: 'lspctl',
          token: tokenFrom(opts),
          retryBudgetMs: opts.timeout,
          autoRenew: false,
          ...clientTls(opts),
        });
        try {
          await client.release(opts.leaseId);
        } catch (err) {
          throw clientError(err);
        } finally {
          client.close();
        }
        io.out(JSON.stringify({ released: true, leaseId: opts.leaseId }));
      },
    );

  const server = program.command('server').description('talk to one licence-server member');
  const status = server
    .command('status')
    .description("a member's role, epoch, licence and replication (admin port; exit 1 when not ready)")
    .addOption(
      new Option('--url <url>', 'admin URL of the member, e.g. https://127.0.0.1:7071')
        .argParser(adminUrl)
        .makeOptionMandatory(),
    )
    .option('--token <token>', 'admin token (or LSPCTL_TOKEN)')
    .option('--token-file <file>', 'read the admin token from a file')
    .option('--json', 'print the status JSON');
  addTlsOptions(status, "with TLS on, /v1/status admits the operator's certificate or the peer member's");
  status.action(async (opts: TlsFlags & { url: URL; token?: string; tokenFile?: string; json?: boolean }) => {
    let res: AdminAnswer;
    try {
      res = await adminGet(new URL('v1/status', opts.url), {
        token: tokenFrom(opts),
        timeoutMs: 5000,
        ...clientTls(opts),
      });
    } catch (err) {
      if (err instanceof TlsCertificateError) throw new CliExit(EXIT.REFUSED, err.message);
      throw new CliExit(EXIT.UNAVAILABLE, `${opts.url.origin}: ${(err as Error).message}`);
    }
    const body = (res.body ?? {}) as StatusJson & { code?: string; message?: string };
    if (res.status < 200 || res.status > 299) {
      // the member's message says which certificate it wants; where to give one is lspctl's to say
      const hint =
        res.status === 401 && !opts.cert ? ' (give a client certificate with --cert and --key)' : '';
      throw new CliExit(EXIT.REFUSED, `${body.code ?? res.status}: ${body.message ?? ''}${hint}`);
    }
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
