// Certificates and files for the TLS tests of lspctl: a CA, a serving certificate for 127.0.0.1,
// the operator's client certificate, another CA nobody trusts, and a directory to write them to.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CommanderError } from 'commander';
import type { Command } from 'commander';
import { CliExit } from '../../../src/cli/command-io.ts';
import { buildProgram } from '../../../src/cli/program.ts';
import { issueCertificateAuthority } from '../../../src/tls/certificate-authority.ts';
import { issueOperatorCertificate } from '../../../src/tls/client-certificate.ts';
import type { IssuedCertificate } from '../../../src/tls/issued.ts';
import { issueServingCertificate } from '../../../src/tls/serving-certificate.ts';

const DAY = 86_400_000;

export type TlsFiles = {
  dir: string;
  ca: IssuedCertificate;
  serving: IssuedCertificate;
  operator: IssuedCertificate;
  /** files: the CA bundle, another CA's bundle, the operator's certificate and key, a text file */
  caFile: string;
  strangerCaFile: string;
  certFile: string;
  keyFile: string;
  servingKeyFile: string;
  notPemFile: string;
  write(name: string, text: string): string;
  cleanup(): void;
};

export async function makeTlsFiles(): Promise<TlsFiles> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lspctl-tls-'));
  const write = (name: string, text: string): string => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  };
  const ca = await issueCertificateAuthority({ commonName: 'pair CA', lifetimeMs: 30 * DAY });
  const stranger = await issueCertificateAuthority({ commonName: 'another CA', lifetimeMs: 30 * DAY });
  const serving = await issueServingCertificate(ca.authority, {
    ipAddresses: ['127.0.0.1'],
    lifetimeMs: DAY,
  });
  const operator = await issueOperatorCertificate(ca.authority, { lifetimeMs: DAY });
  return {
    dir,
    ca,
    serving,
    operator,
    caFile: write('ca.crt', ca.certPem),
    strangerCaFile: write('stranger.crt', stranger.certPem),
    certFile: write('operator.crt', operator.certPem),
    keyFile: write('operator.key', operator.keyPem),
    servingKeyFile: write('serving.key', serving.keyPem),
    notPemFile: write('notes.txt', 'not a certificate\n'),
    write,
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

export type Ran = { code: number; out: string[]; err: string[] };

/** Send commander's own output (usage errors, help) of `cmd` and its subcommands to `err`. */
function captureCommander(cmd: Command, err: string[]): void {
  cmd.configureOutput({ writeErr: (s) => err.push(s.trimEnd()), writeOut: (s) => err.push(s.trimEnd()) });
  for (const sub of cmd.commands) captureCommander(sub, err);
}

/** Run `lspctl ARGS…` in-process: its exit code, stdout lines and stderr lines. */
export async function lspctl(args: string[]): Promise<Ran> {
  const out: string[] = [];
  const err: string[] = [];
  const program = buildProgram({ out: (s) => out.push(s), err: (s) => err.push(s) });
  captureCommander(program, err);
  try {
    await program.parseAsync(args, { from: 'user' });
    return { code: 0, out, err };
  } catch (e) {
    if (e instanceof CliExit) return { code: e.code, out, err: [...err, e.message] };
    if (e instanceof CommanderError) return { code: e.exitCode === 0 ? 0 : 2, out, err };
    throw e;
  }
}
