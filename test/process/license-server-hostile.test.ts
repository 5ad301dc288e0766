// A real licence-server process under hostile input: bodies over the limit, clients that send
// their headers or body byte by byte (slowloris), many oversized uploads (memory stays bounded),
// and Schemathesis generating requests from the server's own OpenAPI description.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PAIR_ID, feature, makeFixture } from '../unit/license-server/fixtures.ts';
import type { Fixture } from '../unit/license-server/fixtures.ts';
import { ROOT, ServerProcess, adminClient, until } from './harness.ts';

const REQUEST_TIMEOUT_MS = 2000;
const CLIENT_TOKEN = 'client-secret';

/** Resident memory of a process, in MiB. */
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1]) / 1024;
}

type Slow = { closedAfterMs: number | undefined; received: string; sentBytes: number };

/** A client that sends `head` and then one more byte of `rest` every `everyMs` until cut off. */
function slowClient(port: number, head: string, rest: string, everyMs: number): { done: Promise<Slow> } {
  const sock = net.connect(port, '127.0.0.1');
  const t0 = Date.now();
  const out: Slow = { closedAfterMs: undefined, received: '', sentBytes: 0 };
  let i = 0;
  let timer: NodeJS.Timeout | undefined;
  sock.on('connect', () => {
    sock.write(head);
    timer = setInterval(() => {
      if (sock.destroyed || !sock.writable) return;
      sock.write(rest[i % rest.length] as string);
      i += 1;
      out.sentBytes = i;
    }, everyMs);
  });
  sock.on('data', (d: Buffer) => (out.received += d.toString()));
  sock.on('error', () => undefined);
  const done = new Promise<Slow>((resolve) => {
    sock.on('close', () => {
      clearInterval(timer);
      out.closedAfterMs = Date.now() - t0;
      resolve(out);
    });
  });
  return { done };
}

/** POST a body of `bytes` bytes, declared (content-length) or chunked; resolves with the answer. */
function upload(
  port: number,
  bytes: number,
  chunked: boolean,
): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/v1/checkout',
        agent: false,
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${CLIENT_TOKEN}`,
          ...(chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(bytes) }),
        },
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', (e) => resolve({ error: e.message }));
      },
    );
    req.on('error', (e) => resolve({ error: e.message }));
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let sent = 0;
    const write = (): void => {
      while (sent < bytes && !req.destroyed) {
        const n = Math.min(chunk.length, bytes - sent);
        sent += n;
        if (!req.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
          req.once('drain', write);
          return;
        }
      }
      req.end();
    };
    write();
  });
}

describe('a licence-server process under hostile input', () => {
  let fx: Fixture;
  let p: ServerProcess;
  const admin = adminClient(() => fx.token);
  const features = async (): Promise<Response> =>
    fetch(`${p.clientUrl}/v1/features`, { headers: { authorization: `Bearer ${CLIENT_TOKEN}` } });

  beforeAll(async () => {
    fx = makeFixture([feature('synth', 5), feature('sim', 2)]);
    const clientTokenFile = path.join(fx.dir, 'client-token');
    fs.writeFileSync(clientTokenFile, `${CLIENT_TOKEN}\n`);
    p = await ServerProcess.create({
      name: 'hostile',
      pairId: PAIR_ID,
      licenceFile: fx.licenceFile,
      publicKeyFile: fx.publicKeyFile,
      tokenFile: fx.tokenFile,
      stateDir: fx.stateDir('hostile'),
      logDir: fx.dir,
      env: {
        LS_CLIENT_TOKEN_FILE: clientTokenFile,
        LS_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
        LS_USAGE_LOG: 'off',
        LS_LOG_LEVEL: 'warn',
      },
    });
    await p.start();
    expect(await admin.post(p, '/v1/admin/promote', { epoch: 1 })).toMatchObject({ status: 200 });
  });
  afterAll(async () => {
    await p?.stop();
    fx?.cleanup();
  });

  it('answers a body over the limit with 413 and a reason, whether its length is declared or not', async () => {
    for (const chunked of [false, true]) {
      const r = await upload(p.ports.licences, 1024 * 1024, chunked);
      expect(r, `chunked: ${chunked}`).toMatchObject({ status: 413 });
      const body = JSON.parse((r as { body: string }).body) as { code: string; message: string };
      expect(body.code).toBe('PAYLOAD_TOO_LARGE');
      expect(body.message).toMatch(/too large/);
    }
    // a length declared far beyond anything, and a body that never comes: cut off at the request
    // timeout with 408 (not a 5xx), the connection closed
    const t0 = Date.now();
    const declared = await new Promise<string>((resolve) => {
      const s = net.connect(p.ports.licences, '127.0.0.1');
      let out = '';
      s.on('data', (d: Buffer) => (out += d.toString()));
      s.on('close', () => resolve(out));
      s.on('error', () => undefined);
      s.write(
        'POST /v1/checkout HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n' +
          'content-length: 1000000000000\r\n\r\n{',
      );
    });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 100);
    expect(declared).toMatch(/^HTTP\/1\.1 408 /);
    expect(declared).toMatch(/"code":"TIMEOUT"/);
  });

  it('cuts off clients that send their headers or body slowly, and serves others meanwhile', async () => {
    const before = await admin.status(p);
    const slowHeaders = Array.from({ length: 20 }, () =>
      slowClient(p.ports.licences, 'POST /v1/checkout HTTP/1.1\r\nhost: x\r\n', 'x-slow: 1\r\n', 200),
    );
    const slowBodies = Array.from({ length: 5 }, () =>
      slowClient(
        p.ports.licences,
        'POST /v1/checkout HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n' +
          `authorization: Bearer ${CLIENT_TOKEN}\r\ncontent-length: 1000\r\n\r\n`,
        '{"feature":"synth","clientId":"slow","user":"u","host":"h"}',
        200,
      ),
    );
    // while they trickle, other clients are served
    for (let i = 0; i < 20; i++) {
      expect((await features()).status).toBe(200);
      await new Promise((r) => setTimeout(r, 50));
    }
    const all = await Promise.all([...slowHeaders, ...slowBodies].map((s) => s.done));
    for (const s of all) {
      // cut off by the server's timeouts (2 s here, checked every second), long before a client
      // sending a byte every 200 ms would have finished (the slow bodies need 200 s)
      expect(s.closedAfterMs as number).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 100);
      expect(s.received).toMatch(/^HTTP\/1\.1 408 /);
      expect(s.received).toMatch(/"code":"TIMEOUT"/);
    }
    const after = await admin.status(p);
    expect(after.replication.lastSeq).toBe(before.replication.lastSeq);
    expect(after.activeLeases).toBe(before.activeLeases);
  });

  it('keeps its memory bounded under many oversized uploads', async () => {
    const baseline = rssMiB(p.child?.pid as number);
    let peak = baseline;
    const sample = setInterval(() => (peak = Math.max(peak, rssMiB(p.child?.pid as number))), 50);
    try {
      // 200 uploads of 1 MiB (half declared, half chunked), 8 at a time, and 4 chunked uploads
      // of 64 MiB, which the server must read through or cut off without keeping them
      const sizes = [
        ...Array.from({ length: 200 }, (_, i) => ({ bytes: 1024 * 1024, chunked: i % 2 === 1 })),
        ...Array.from({ length: 4 }, () => ({ bytes: 64 * 1024 * 1024, chunked: true })),
      ];
      let next = 0;
      const answers: number[] = [];
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < sizes.length) {
            const s = sizes[next++] as { bytes: number; chunked: boolean };
            const r = await upload(p.ports.licences, s.bytes, s.chunked);
            answers.push('status' in r ? r.status : 0);
          }
        }),
      );
      // every upload was refused; a 408 is possible for a 64 MiB upload on a busy machine (it
      // must be read within the request timeout)
      for (const status of answers) expect([413, 408]).toContain(status);
      expect(answers.filter((s) => s === 413).length).toBeGreaterThanOrEqual(200);
    } finally {
      clearInterval(sample);
    }
    console.log(
      `licence server RSS: ${baseline.toFixed(0)} MiB before, ${peak.toFixed(0)} MiB at most during`,
    );
    // 456 MiB was sent; a server that kept the bodies would grow by that much (the bound is
    // generous: garbage collection lags on a busy machine)
    expect(peak - baseline).toBeLessThan(250);
    expect((await features()).status).toBe(200);
  });

  /** Run Schemathesis against one port for some operations; resolves with its exit code and output. */
  function schemathesis(
    base: string,
    token: string,
    pathRegex: string,
    phases: string,
  ): Promise<{ code: number; output: string }> {
    const checks = [
      'not_a_server_error',
      'status_code_conformance',
      'content_type_conformance',
      'response_schema_conformance',
      'negative_data_rejection',
    ].join(',');
    const args = [
      'run',
      `${p.clientUrl}/v1/openapi.json`,
      '--url',
      base,
      '--header',
      `Authorization: Bearer ${token}`,
      '--include-path-regex',
      pathRegex,
      '--checks',
      checks,
      '--phases',
      phases,
      '--max-examples',
      '40',
      '--workers',
      '1',
      '--request-timeout',
      '5',
    ];
    return new Promise((resolve) => {
      const child = spawn(path.join(ROOT, 'test/process/schemathesis.sh'), args, {
        cwd: fx.dir, // its .hypothesis database stays out of the checkout
        env: { ...process.env, NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      child.on('close', (code) => resolve({ code: code ?? -1, output }));
    });
  }

  it('Schemathesis, driven by the OpenAPI description, finds no server error and no mismatch', async () => {
    await until('active', async () => (await admin.status(p)).role === 'active');
    const all = 'examples,coverage,fuzzing,stateful';
    const runs: [string, string, string, string][] = [
      // the lease API (checkout → renew/release through the description's links)
      [p.clientUrl, CLIENT_TOKEN, '^/v1/(checkout|renew|release|features|openapi\\.json)$', all],
      // admin and replication reads, lease revocation, licence reload
      [
        p.adminUrl,
        fx.token,
        '^/(healthz|readyz|v1/status|v1/admin/reload-license|v1/admin/leases.*|v1/replication/(snapshot|stream))$',
        all,
      ],
      // role changes last: they may leave the member standby, where the lease API answers 503
      // (no links between them: no stateful phase)
      [p.adminUrl, fx.token, '^/v1/admin/(promote|demote)$', 'examples,coverage,fuzzing'],
    ];
    // The long poll of /v1/replication/entries (up to 10 s per request, and an `epoch` above the
    // member's makes it step down) is left to the fast-check fuzzer (test/unit/license-server).
    for (const [base, token, regex, phases] of runs) {
      const r = await schemathesis(base, token, regex, phases);
      expect(r.code, `schemathesis on ${regex}:\n${r.output.slice(-6000)}`).toBe(0);
      expect(r.output).toMatch(/\d+ generated, \d+ passed/);
    }
    expect((await fetch(`${p.adminUrl}/healthz`)).status).toBe(200);
  }, 300_000);
});
