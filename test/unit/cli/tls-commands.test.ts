// lspctl over https against TLS servers on loopback that stand in for a member: the licence port
// (no client certificate asked for) and the admin port (asks for one; /v1/status wants it).
// The handshake errors are the client library's TlsCertificateError messages, shown as they are.
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lspctl, makeTlsFiles } from './tls-fixtures.ts';
import type { TlsFiles } from './tls-fixtures.ts';

let f: TlsFiles;
let licences: https.Server;
let admin: https.Server;
let licenceUrl = '';
let adminUrl = '';
const requests: string[] = [];

const lease = {
  id: '1-1',
  feature: 'sim',
  count: 1,
  clientId: 'c',
  user: 'u',
  host: 'h',
  expiresInSeconds: 60,
  renewAfterSeconds: 30,
  expiresAt: '2099-01-01T00:00:00Z',
  existing: false,
};

const status = {
  member: 'primary',
  pairId: 'licensing/eda-tools',
  role: 'active',
  epoch: 3,
  ready: true,
  license: { state: 'valid', message: '1 feature' },
  replication: {
    state: 'in-sync',
    mode: 'sync',
    lastSeq: 7,
    lagEntries: 0,
    lagSeconds: 0,
    peerLastSeenSeconds: 0.2,
    clockSkewSeconds: 0,
  },
  time: '2026-03-01T12:00:00Z',
  activeLeases: 1,
  advertiseUrl: null,
};

const listen = async (s: https.Server): Promise<string> => {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `https://127.0.0.1:${(s.address() as AddressInfo).port}`;
};

beforeAll(async () => {
  f = await makeTlsFiles();
  const serving = { cert: f.serving.certPem, key: f.serving.keyPem };
  licences = https.createServer(serving, (req, res) => {
    requests.push(req.url ?? '');
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(req.url === '/v1/checkout' ? { lease } : { released: true, leaseId: lease.id }));
  });
  admin = https.createServer(
    { ...serving, ca: f.ca.certPem, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      const socket = req.socket as TLSSocket;
      res.setHeader('content-type', 'application/json');
      if (!socket.authorized) {
        res.statusCode = 401;
        res.end(
          JSON.stringify({
            code: 'UNAUTHORIZED',
            message:
              "a client certificate is required (one of the operator or this pair's other member, issued by the pair's CA)",
          }),
        );
        return;
      }
      res.end(JSON.stringify(req.url === '/v1/status' ? status : {}));
    },
  );
  licenceUrl = await listen(licences);
  adminUrl = await listen(admin);
});

afterAll(async () => {
  await Promise.all([licences, admin].map((s) => new Promise<void>((r) => s.close(() => r()))));
  f.cleanup();
});

describe('checkout and release over https', () => {
  it('--ca: the server is verified against the pair bundle and the lease printed', async () => {
    const r = await lspctl(['checkout', 'sim', '--url', licenceUrl, '--ca', f.caFile]);
    expect(r).toMatchObject({ code: 0, err: [] });
    expect(JSON.parse(r.out[0]!)).toMatchObject({ id: '1-1', feature: 'sim' });
    const rel = await lspctl([
      'release',
      '--url',
      licenceUrl,
      '--client-id',
      'c',
      '--lease-id',
      '1-1',
      '--ca',
      f.caFile,
    ]);
    expect(rel).toMatchObject({ code: 0, out: ['{"released":true,"leaseId":"1-1"}'] });
  });

  it('LSPCTL_CA does the same', async () => {
    process.env.LSPCTL_CA = f.caFile;
    try {
      expect((await lspctl(['checkout', 'sim', '--url', licenceUrl])).code).toBe(0);
    } finally {
      delete process.env.LSPCTL_CA;
    }
  });

  it('without --ca: TLS_UNTRUSTED, exit 1, at once (not retried for the --timeout)', async () => {
    const before = requests.length;
    const started = Date.now();
    const r = await lspctl(['checkout', 'sim', '--url', licenceUrl, '--timeout', '30000']);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(r.code).toBe(1);
    expect(r.err).toEqual([
      `the server's certificate at ${licenceUrl} is not signed by a CA this client trusts (UNABLE_TO_VERIFY_LEAF_SIGNATURE); ` +
        "give the pair's CA bundle as the ca option (--ca FILE): the pair's CA bundle is the ca.crt of its ConfigMap <pair>-ca " +
        "(kubectl get configmap <pair>-ca -o jsonpath='{.data.ca\\.crt}'; docs/tls.md); give all of it: during a CA rotation it holds two CAs",
    ]);
    expect(requests.length).toBe(before);
  });

  it('another CA: says the CA given did not sign it', async () => {
    const r = await lspctl(['checkout', 'sim', '--url', licenceUrl, '--ca', f.strangerCaFile]);
    expect(r.code).toBe(1);
    expect(r.err[0]).toMatch(
      /^the server's certificate at https:\/\/127\.0\.0\.1:\d+ is not signed by the CA you gave \(the ca option, --ca\)/,
    );
  });

  it('checkout --hold: a certificate it cannot accept is a refusal (122), the command not run', async () => {
    const r = await lspctl(['checkout', 'sim', '--url', licenceUrl, '--hold', '--', 'sh', '-c', 'exit 7']);
    expect(r.code).toBe(122);
    expect(r.err[0]).toMatch(/^the server's certificate at .* is not signed by a CA this client trusts/);
  });
});

describe('server status over https', () => {
  it('--ca, --cert and --key: the operator certificate is presented and the status printed', async () => {
    const r = await lspctl([
      'server',
      'status',
      '--url',
      adminUrl,
      '--ca',
      f.caFile,
      '--cert',
      f.certFile,
      '--key',
      f.keyFile,
    ]);
    expect(r.code).toBe(0);
    expect(r.out[0]).toBe('primary (licensing/eda-tools): active, epoch 3, ready=true');
  });

  it("without a client certificate: the member's 401 and where to give one", async () => {
    const r = await lspctl(['server', 'status', '--url', adminUrl, '--ca', f.caFile]);
    expect(r.code).toBe(1);
    expect(r.err).toEqual([
      "UNAUTHORIZED: a client certificate is required (one of the operator or this pair's other member, issued by the pair's CA) (give a client certificate with --cert and --key)",
    ]);
  });

  it('without --ca: the same TLS_UNTRUSTED message as checkout', async () => {
    const r = await lspctl([
      'server',
      'status',
      '--url',
      `${adminUrl}/`,
      '--cert',
      f.certFile,
      '--key',
      f.keyFile,
    ]);
    expect(r.code).toBe(1);
    expect(r.err[0]).toMatch(
      /^the server's certificate at https:\/\/127\.0\.0\.1:\d+ is not signed by a CA this client trusts .*--ca FILE/,
    );
  });

  it('a plaintext member behind an https:// URL: TLS_NOT_TLS, not a hang', async () => {
    const { createServer } = await import('node:http');
    const plain = createServer((_q, s) => s.end('{}'));
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    try {
      const url = `https://127.0.0.1:${(plain.address() as AddressInfo).port}`;
      const r = await lspctl(['server', 'status', '--url', url, '--ca', f.caFile]);
      expect(r.code).toBe(1);
      expect(r.err[0]).toMatch(
        /does not answer TLS .* the member serves plaintext; use an http:\/\/ address/,
      );
    } finally {
      plain.close();
    }
  });

  it('an unreachable member: exit 3 with the address', async () => {
    const r = await lspctl(['server', 'status', '--url', 'https://127.0.0.1:9', '--ca', f.caFile]);
    expect(r.code).toBe(3);
    expect(r.err[0]).toMatch(/^https:\/\/127\.0\.0\.1:9: connect ECONNREFUSED/);
  });

  it('--url must be an http(s) URL', async () => {
    const r = await lspctl(['server', 'status', '--url', '127.0.0.1:7071']);
    expect(r.code).toBe(2);
    expect(r.err[0]).toMatch(/"127.0.0.1:7071" is not an http\(s\) URL/);
  });
});
