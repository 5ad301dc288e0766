// Option values that several lspctl commands take: files named on the command line (read as a
// usage error when missing), counts, and the token of the lease and server commands.
import fs from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { CliExit, EXIT } from './command-io.ts';

export function readText(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliExit(EXIT.USAGE, `cannot read ${what} ${file}: ${(err as Error).message}`);
  }
}

export const positiveInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
};

export function tokenFrom(opts: { token?: string; tokenFile?: string }): string | undefined {
  if (opts.tokenFile) return readText(opts.tokenFile, 'token file').trim();
  return opts.token ?? process.env.LSPCTL_TOKEN;
}
