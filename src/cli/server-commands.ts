// `lspctl server status`: one member's admin API, called directly rather than through the pair's
// Service, to see what that member itself says.
import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import { TlsCertificateError } from '../client/client.ts';
import type { StatusJson } from '../license-server/protocol.ts';
import { adminGet } from './admin-get.ts';
import type { AdminAnswer } from './admin-get.ts';
import { CliExit, EXIT } from './command-io.ts';
import type { Io } from './command-io.ts';
import { tokenFrom } from './command-options.ts';
import { addTlsOptions, clientTls } from './tls-options.ts';
import type { TlsFlags } from './tls-options.ts';

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

export function addServerCommands(program: Command, io: Io): void {
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
}
