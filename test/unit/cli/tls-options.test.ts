// lspctl's --ca, --cert and --key: on every command that talks to a licence server, from the
// environment too, and checked while the command line is parsed (the flag and the file named).
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import { Command, CommanderError } from 'commander';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../../src/cli/program.ts';
import { addTlsOptions, clientTls, liveFile } from '../../../src/cli/tls-options.ts';
import type { TlsFlags } from '../../../src/cli/tls-options.ts';
import { lspctl, makeTlsFiles } from './tls-fixtures.ts';
import type { TlsFiles } from './tls-fixtures.ts';

let f: TlsFiles;
beforeAll(async () => {
  f = await makeTlsFiles();
});
afterAll(() => f.cleanup());

const ENV = ['LSPCTL_CA', 'LSPCTL_CERT', 'LSPCTL_KEY'] as const;
afterEach(() => {
  for (const v of ENV) delete process.env[v];
});

/** Parse `args` with a command that has only the TLS options; the flags its action got. */
async function parse(args: string[]): Promise<TlsFlags> {
  let got: TlsFlags | undefined;
  const cmd = addTlsOptions(new Command('t').exitOverride(), 'test').action((o: TlsFlags) => {
    got = o;
  });
  cmd.configureOutput({ writeErr: () => {} });
  await cmd.parseAsync(args, { from: 'user' });
  return got!;
}

async function parseError(args: string[]): Promise<CommanderError> {
  const e: unknown = await parse(args).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(CommanderError);
  return e as CommanderError;
}

describe('the commands that talk to a licence server', () => {
  const find = (program: Command, names: string[]): Command =>
    names.reduce((c, n) => c.commands.find((s) => s.name() === n)!, program);

  it.each([['checkout'], ['release'], ['server', 'status']])(
    '%s takes --ca, --cert and --key, or LSPCTL_*',
    (...names) => {
      const cmd = find(buildProgram(), names);
      const tls = cmd.options.filter((o) => ['--ca', '--cert', '--key'].includes(o.long ?? ''));
      expect(tls.map((o) => [o.long, o.envVar])).toEqual([
        ['--ca', 'LSPCTL_CA'],
        ['--cert', 'LSPCTL_CERT'],
        ['--key', 'LSPCTL_KEY'],
      ]);
    },
  );

  it('license sign keeps its own --key (the issuer key), without LSPCTL_KEY', () => {
    const sign = find(buildProgram(), ['license', 'sign']);
    expect(sign.options.find((o) => o.long === '--key')?.envVar).toBeUndefined();
  });
});

describe('parsing', () => {
  it('reads each file when the command line is parsed', async () => {
    const o = await parse(['--ca', f.caFile, '--cert', f.certFile, '--key', f.keyFile]);
    expect(o.ca).toEqual({ file: f.caFile, text: f.ca.certPem });
    expect(o.cert).toEqual({ file: f.certFile, text: f.operator.certPem });
    expect(o.key).toEqual({ file: f.keyFile, text: f.operator.keyPem });
  });

  it('takes LSPCTL_CA, LSPCTL_CERT and LSPCTL_KEY; a flag wins over the variable', async () => {
    process.env.LSPCTL_CA = f.caFile;
    process.env.LSPCTL_CERT = f.certFile;
    process.env.LSPCTL_KEY = f.keyFile;
    const fromEnv = await parse([]);
    expect([fromEnv.ca?.file, fromEnv.cert?.file, fromEnv.key?.file]).toEqual([
      f.caFile,
      f.certFile,
      f.keyFile,
    ]);
    expect((await parse(['--ca', f.strangerCaFile])).ca?.file).toBe(f.strangerCaFile);
  });

  it('no flags: no TLS options (node verifies against its public CAs)', async () => {
    expect(clientTls(await parse([]))).toEqual({});
  });

  it('a missing file names the flag and the path', async () => {
    const e = await parseError(['--ca', '/nonexistent/ca.crt']);
    expect(e.exitCode).toBe(1); // lspctl.ts turns every CommanderError into exit 2
    expect(e.message).toBe(
      "error: option '--ca <file>' argument '/nonexistent/ca.crt' is invalid. cannot read the CA bundle /nonexistent/ca.crt: no such file",
    );
    expect((await parseError(['--cert', '/nope.crt', '--key', f.keyFile])).message).toMatch(
      /option '--cert <file>' argument '\/nope.crt' is invalid. cannot read the client certificate \/nope.crt: no such file/,
    );
    expect((await parseError(['--key', f.dir])).message).toMatch(
      new RegExp(
        `option '--key <file>' argument '${f.dir}' is invalid. cannot read the private key ${f.dir}: EISDIR`,
      ),
    );
  });

  it('a missing file from the environment names the variable', async () => {
    process.env.LSPCTL_CA = '/nonexistent/ca.crt';
    expect((await parseError([])).message).toBe(
      "error: option '--ca <file>' value '/nonexistent/ca.crt' from env 'LSPCTL_CA' is invalid. cannot read the CA bundle /nonexistent/ca.crt: no such file",
    );
  });

  it('a file that is not what the flag takes says what it should hold', async () => {
    expect((await parseError(['--ca', f.notPemFile])).message).toMatch(
      /--ca <file>.*notes.txt \(the CA bundle\) holds no PEM certificate \(-----BEGIN CERTIFICATE-----\)/,
    );
    expect((await parseError(['--ca', f.keyFile])).message).toMatch(/holds no PEM certificate/);
    expect((await parseError(['--cert', f.certFile, '--key', f.certFile])).message).toMatch(
      /--key <file>.*operator.crt holds no PEM private key/,
    );
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const encrypted = f.write(
      'encrypted.key',
      privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'x' }).toString(),
    );
    expect((await parseError(['--cert', f.certFile, '--key', encrypted])).message).toMatch(
      /encrypted.key is an encrypted private key; give it unencrypted/,
    );
    const broken = f.write('broken.crt', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    expect((await parseError(['--ca', broken])).message).toMatch(
      /broken.crt \(the CA bundle\) has a certificate that cannot be read/,
    );
  });

  it('--cert needs --key and --key needs --cert', async () => {
    const e = await parseError(['--cert', f.certFile]);
    expect(e.message).toBe(`error: --cert ${f.certFile} needs --key, its private key (or LSPCTL_KEY)`);
    expect(e.exitCode).toBe(2);
    expect((await parseError(['--key', f.keyFile])).message).toBe(
      `error: --key ${f.keyFile} needs --cert, the certificate it belongs to (or LSPCTL_CERT)`,
    );
  });

  it('a key of another certificate is refused before anything is sent', async () => {
    expect((await parseError(['--cert', f.certFile, '--key', f.servingKeyFile])).message).toMatch(
      new RegExp(
        `--key ${f.servingKeyFile} is not the private key of --cert ${f.certFile} \\(.*key values mismatch`,
      ),
    );
  });

  it('through lspctl: exit 2 and the message, before any connection is tried', async () => {
    const r = await lspctl([
      'checkout',
      'sim',
      '--url',
      'https://127.0.0.1:9',
      '--ca',
      '/nonexistent/ca.crt',
    ]);
    expect(r.code).toBe(2);
    expect(r.err[0]).toBe(
      "error: option '--ca <file>' argument '/nonexistent/ca.crt' is invalid. cannot read the CA bundle /nonexistent/ca.crt: no such file",
    );
    const s = await lspctl(['server', 'status', '--url', 'https://127.0.0.1:9', '--cert', f.certFile]);
    expect(s.code).toBe(2);
    expect(s.err[0]).toBe(`error: --cert ${f.certFile} needs --key, its private key (or LSPCTL_KEY)`);
  });
});

describe('the files are read again for each connection', () => {
  it('a rewritten file is picked up; a missing or half-written one keeps the last good text', () => {
    const file = f.write('live.crt', f.ca.certPem);
    const read = liveFile({ file, text: f.ca.certPem });
    expect(read()).toBe(f.ca.certPem);
    fs.writeFileSync(file, f.operator.certPem);
    expect(read()).toBe(f.operator.certPem);
    fs.writeFileSync(file, '');
    expect(read()).toBe(f.operator.certPem);
    fs.rmSync(file);
    expect(read()).toBe(f.operator.certPem);
  });

  it('clientTls gives LicenseClient a function per file', async () => {
    const tls = clientTls(await parse(['--ca', f.caFile, '--cert', f.certFile, '--key', f.keyFile]));
    const value = (p: unknown): unknown => (typeof p === 'function' ? (p as () => unknown)() : p);
    expect([value(tls.ca), value(tls.cert), value(tls.key)]).toEqual([
      f.ca.certPem,
      f.operator.certPem,
      f.operator.keyPem,
    ]);
  });
});
