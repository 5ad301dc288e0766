// `lspctl checkout` and `lspctl release`: the lease API through LicenseClient, with the client
// library's retries and failover between the URLs given.
import crypto from 'node:crypto';
import os from 'node:os';
import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import { LicenseClient, LicenseError, LicenseUnavailableError, RETRY_DEFAULTS } from '../client/client.ts';
import { CliExit, EXIT } from './command-io.ts';
import type { Io } from './command-io.ts';
import { positiveInt, tokenFrom } from './command-options.ts';
import { hold } from './hold.ts';
import { addTlsOptions, clientTls } from './tls-options.ts';
import type { TlsFlags } from './tls-options.ts';

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

export function addLeaseCommands(program: Command, io: Io): void {
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
          // hold() throws CliExit for what lspctl itself says (no seat, unreachable, refused)
          const code = await hold({
            client: clientOptions,
            feature,
            count: opts.count,
            command,
            verbose: Boolean(opts.verbose),
            out: io.out,
            err: io.err,
          });
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
}
