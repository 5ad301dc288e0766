// --ca, --cert and --key (or LSPCTL_CA, LSPCTL_CERT, LSPCTL_KEY) of the commands that talk to a
// licence server: the pair's CA bundle to verify an https:// server with, and a client
// certificate for the admin calls that need one (docs/tls.md, "Who may call what").
//
// Each file is read and checked while the command line is parsed, so that a wrong path, a file
// that is no PEM or a key of another certificate is a usage error naming the flag and the file,
// not a handshake failure (or, worse, a retried connection error) later. The commands then read
// the files again for each new connection: `checkout --hold` can run for days, across a CA
// rotation that rewrites the bundle in place.
import { createPrivateKey } from 'node:crypto';
import fs from 'node:fs';
import tls from 'node:tls';
import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import type { PemSource } from '../client/client.ts';
import { parseCertificates } from '../tls/pem.ts';

/** A file given to one of the flags, as read when the command line was parsed. */
export type PemFile = { file: string; text: string };

export type TlsFlags = { ca?: PemFile | undefined; cert?: PemFile | undefined; key?: PemFile | undefined };

/** What LicenseClient and the admin calls take. */
export type ClientTls = { ca?: PemSource; cert?: PemSource; key?: PemSource };

function readPem(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message;
    throw new InvalidArgumentError(`cannot read ${what} ${file}: ${why}`);
  }
}

function certificates(file: string, what: string): PemFile {
  const text = readPem(file, what);
  let count: number;
  try {
    count = parseCertificates(text).length;
  } catch (err) {
    throw new InvalidArgumentError(
      `${file} (${what}) has a certificate that cannot be read: ${(err as Error).message}`,
    );
  }
  if (count === 0)
    throw new InvalidArgumentError(
      `${file} (${what}) holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
    );
  return { file, text };
}

function privateKey(file: string): PemFile {
  const text = readPem(file, 'the private key');
  try {
    createPrivateKey(text);
  } catch {
    // lspctl asks for no passphrase: say so rather than call an encrypted key no key
    if (text.includes('ENCRYPTED'))
      throw new InvalidArgumentError(`${file} is an encrypted private key; give it unencrypted`);
    throw new InvalidArgumentError(`${file} holds no PEM private key (-----BEGIN PRIVATE KEY-----)`);
  }
  return { file, text };
}

/** Add the three options to `cmd`; `certUse` says what the client certificate is for there. */
export function addTlsOptions(cmd: Command, certUse: string): Command {
  return cmd
    .addOption(
      new Option('--ca <file>', "CA bundle (PEM) to verify an https:// server: the pair's ca.crt")
        .env('LSPCTL_CA')
        .argParser((v: string) => certificates(v, 'the CA bundle')),
    )
    .addOption(
      new Option('--cert <file>', `client certificate (PEM), with --key: ${certUse}`)
        .env('LSPCTL_CERT')
        .argParser((v: string) => certificates(v, 'the client certificate')),
    )
    .addOption(
      new Option('--key <file>', 'private key (PEM) of --cert').env('LSPCTL_KEY').argParser(privateKey),
    )
    .hook('preAction', (_parent, action) => {
      const problem = pairProblem(action.opts<TlsFlags>());
      if (problem) action.error(`error: ${problem}`, { exitCode: 2, code: 'lspctl.tls' });
    });
}

/** Why --cert and --key cannot be used together, or undefined when they can (or neither is given). */
export function pairProblem(flags: TlsFlags): string | undefined {
  const { cert, key } = flags;
  if (cert && !key) return `--cert ${cert.file} needs --key, its private key (or LSPCTL_KEY)`;
  if (key && !cert) return `--key ${key.file} needs --cert, the certificate it belongs to (or LSPCTL_CERT)`;
  if (!cert || !key) return undefined;
  try {
    tls.createSecureContext({ cert: cert.text, key: key.text });
  } catch (err) {
    return `--key ${key.file} is not the private key of --cert ${cert.file} (${(err as Error).message})`;
  }
  return undefined;
}

/**
 * The file's current text for each new connection. A read that fails, or finds no PEM block,
 * keeps the last good text: a Secret or a file being replaced can be missing or half-written for
 * a moment, and a request made then should not fail for it.
 */
export function liveFile(f: PemFile): () => string {
  let last = f.text;
  return () => {
    try {
      const text = fs.readFileSync(f.file, 'utf8');
      if (text.includes('-----BEGIN ')) last = text;
    } catch {
      // keep the last good text
    }
    return last;
  };
}

/** The TLS options for LicenseClient and the admin calls, from the parsed flags. */
export function clientTls(flags: TlsFlags): ClientTls {
  return {
    ...(flags.ca ? { ca: liveFile(flags.ca) } : {}),
    ...(flags.cert ? { cert: liveFile(flags.cert) } : {}),
    ...(flags.key ? { key: liveFile(flags.key) } : {}),
  };
}
