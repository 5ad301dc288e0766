// `lspctl` over https against a real member process with TLS on (certificates made with
// src/tls, written as a mounted Secret): checkout and release with --ca (or LSPCTL_CA), the
// client library's TLS_UNTRUSTED message without it, and `server status` with the operator's
// client certificate (--cert/--key), which the admin port's /v1/status requires.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IssuedCertificate } from '../../src/tls/issued.ts';
import { PAIR_ID, feature, makeFixture } from '../unit/license-server/fixtures.ts';
import type { Fixture } from '../unit/license-server/fixtures.ts';
import { NODE, ROOT } from './harness.ts';
import {
  TlsMember,
  memberCert,
  newCa,
  operatorCert,
  promoteAsOperator,
  tlsMemberSpec,
} from './tls-members.ts';
import type { Ca } from './tls-members.ts';

const LSPCTL = path.join(ROOT, 'src/cli/lspctl.ts');

type Ended = { code: number | null; out: string; err: string; ms: number };

/** Run lspctl to its end; only PATH and `env` in its environment (no LSPCTL_* of the caller's). */
function lspctl(args: string[], env: Record<string, string> = {}): Promise<Ended> {
  const started = performance.now();
  const child = spawn(NODE, [LSPCTL, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) =>
    child.on('exit', (code) => resolve({ code, out, err, ms: performance.now() - started })),
  );
}

describe('lspctl with a TLS member', () => {
  let fx: Fixture;
  let ca: Ca;
  let member: TlsMember;
  let operator: IssuedCertificate;
  const file = (name: string, text: string): string => {
    const f = path.join(fx.dir, name);
    fs.writeFileSync(f, text);
    return f;
  };
  let caFile = '';
  let strangerCaFile = '';
  let certFile = '';
  let keyFile = '';

  beforeAll(async () => {
    fx = makeFixture([feature('sim', 5)]);
    ca = await newCa('pair CA');
    operator = await operatorCert(ca);
    caFile = file('ca.crt', ca.certPem);
    strangerCaFile = file('stranger.crt', (await newCa('another CA')).certPem);
    certFile = file('operator.crt', operator.certPem);
    keyFile = file('operator.key', operator.keyPem);
    // one member without a peer: it needs no standby's acknowledgement
    member = await TlsMember.create(tlsMemberSpec(fx, 'primary'));
    const cert = await memberCert(ca, PAIR_ID, 'primary');
    member.secret.write({ cert: cert.certPem, key: cert.keyPem, ca: ca.certPem });
    await member.start(undefined, ca.certPem);
    const promoted = await promoteAsOperator(member, { ca: ca.certPem, operator, token: fx.token });
    expect(promoted).toMatchObject({ status: 200 });
  }, 60_000);

  afterAll(async () => {
    await member?.stop();
    fx?.cleanup();
  });

  it('checkout over https with --ca succeeds, and release with LSPCTL_CA', async () => {
    expect(member.clientUrl).toMatch(/^https:\/\//);
    const r = await lspctl([
      'checkout',
      'sim',
      '--url',
      member.clientUrl,
      '--client-id',
      'tls-1',
      '--ca',
      caFile,
    ]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const lease = JSON.parse(r.out) as { id: string; feature: string; clientId: string };
    expect(lease).toMatchObject({ feature: 'sim', clientId: 'tls-1' });
    const rel = await lspctl(
      ['release', '--url', member.clientUrl, '--client-id', 'tls-1', '--lease-id', lease.id],
      {
        LSPCTL_CA: caFile,
      },
    );
    expect(rel).toMatchObject({ code: 0, err: '' });
    expect(JSON.parse(rel.out)).toEqual({ released: true, leaseId: lease.id });
  });

  it('checkout without --ca fails at once with the TLS_UNTRUSTED message, which names --ca', async () => {
    const r = await lspctl(['checkout', 'sim', '--url', member.clientUrl, '--timeout', '30000']);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toBe(
      `lspctl: the server's certificate at ${member.clientUrl} is not signed by a CA this client trusts ` +
        "(UNABLE_TO_VERIFY_LEAF_SIGNATURE); give the pair's CA bundle as the ca option (--ca FILE): " +
        "the pair's CA bundle is the ca.crt of its ConfigMap <pair>-ca " +
        "(kubectl get configmap <pair>-ca -o jsonpath='{.data.ca\\.crt}'; docs/tls.md); " +
        'give all of it: during a CA rotation it holds two CAs\n',
    );
    // final, not retried for the 30 s budget (node's start-up is most of this)
    expect(r.ms).toBeLessThan(10_000);
  });

  it("with another CA's bundle: says the CA given did not sign the member's certificate", async () => {
    const r = await lspctl(['checkout', 'sim', '--url', member.clientUrl, '--ca', strangerCaFile]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /^lspctl: the server's certificate at .* is not signed by the CA you gave \(the ca option, --ca\) \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)/,
    );
  });

  it('checkout --hold runs the command under a lease taken over https', async () => {
    const r = await lspctl([
      'checkout',
      'sim',
      '--url',
      member.clientUrl,
      '--ca',
      caFile,
      '--hold',
      '--',
      'sh',
      '-c',
      'echo "$LSPCTL_LEASE_FEATURE"; exit 4',
    ]);
    expect(r).toMatchObject({ code: 4, out: 'sim\n', err: '' });
  });

  it("server status with --cert/--key (the operator's certificate), and what it says without them", async () => {
    const tokenArgs = ['--token-file', fx.tokenFile];
    const ok = await lspctl([
      'server',
      'status',
      '--url',
      member.adminUrl,
      '--ca',
      caFile,
      '--cert',
      certFile,
      '--key',
      keyFile,
      ...tokenArgs,
    ]);
    expect(ok.err).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.out.split('\n')[0]).toBe('primary (licensing/eda-tools): active, epoch 1, ready=true');
    const fromEnv = await lspctl(['server', 'status', '--url', member.adminUrl, ...tokenArgs], {
      LSPCTL_CA: caFile,
      LSPCTL_CERT: certFile,
      LSPCTL_KEY: keyFile,
    });
    expect(fromEnv.code).toBe(0);
    const noCert = await lspctl(['server', 'status', '--url', member.adminUrl, '--ca', caFile, ...tokenArgs]);
    expect(noCert.code).toBe(1);
    expect(noCert.err).toBe(
      "lspctl: UNAUTHORIZED: a client certificate is required (one of the operator or this pair's other member, " +
        "issued by the pair's CA) (give a client certificate with --cert and --key)\n",
    );
    const noCa = await lspctl([
      'server',
      'status',
      '--url',
      member.adminUrl,
      '--cert',
      certFile,
      '--key',
      keyFile,
      ...tokenArgs,
    ]);
    expect(noCa.code).toBe(1);
    expect(noCa.err).toMatch(
      /^lspctl: the server's certificate at https:\/\/127\.0\.0\.1:\d+ is not signed by a CA this client trusts/,
    );
  });

  it('a missing file is a usage error (exit 2) naming the flag and the path', async () => {
    const missing = path.join(fx.dir, 'no-such-ca.crt');
    const r = await lspctl(['checkout', 'sim', '--url', member.clientUrl, '--ca', missing]);
    expect(r.code).toBe(2);
    expect(r.err.split('\n')[0]).toBe(
      `error: option '--ca <file>' argument '${missing}' is invalid. cannot read the CA bundle ${missing}: no such file`,
    );
    const env = await lspctl(['server', 'status', '--url', member.adminUrl], {
      LSPCTL_KEY: missing,
      LSPCTL_CERT: certFile,
    });
    expect(env.code).toBe(2);
    expect(env.err.split('\n')[0]).toBe(
      `error: option '--key <file>' value '${missing}' from env 'LSPCTL_KEY' is invalid. cannot read the private key ${missing}: no such file`,
    );
  });
});
