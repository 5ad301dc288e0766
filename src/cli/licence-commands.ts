// `lspctl keygen` and `lspctl license sign|inspect|verify`: the licence-file tools of an issuer,
// which need no server and no cluster.
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import YAML from 'yaml';
import {
  LicenceError,
  generateIssuerKeys,
  parseAndVerify,
  signLicence,
  verifyLicence,
} from '../license-server/licence-file.ts';
import { CliExit, EXIT } from './command-io.ts';
import type { Io } from './command-io.ts';
import { readText } from './command-options.ts';

export function addLicenceCommands(program: Command, io: Io): void {
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
}
