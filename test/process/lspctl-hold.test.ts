// `lspctl checkout FEATURE --hold -- COMMAND`: a real lspctl process, a real licence-server
// process on loopback, real commands. The lease is renewed while the command runs (the TTL here
// is 2 s), released when it ends or when lspctl is told to stop, and lspctl ends with the
// command's status or with one of its own (HOLD_EXIT) when the licence is the problem.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOLD_EXIT } from '../../src/cli/hold.ts';
import { PAIR_ID, feature, makeFixture } from '../unit/license-server/fixtures.ts';
import type { Fixture } from '../unit/license-server/fixtures.ts';
import { NODE, ROOT, ServerProcess, adminClient, freePort, until } from './harness.ts';

const LSPCTL = path.join(ROOT, 'src/cli/lspctl.ts');

type Run = {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: string | null; err: string; out: string }>;
};

function lspctl(args: string[]): Run {
  const child = spawn(NODE, [LSPCTL, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<{ code: number | null; signal: string | null; err: string; out: string }>(
    (resolve) => child.on('exit', (code, signal) => resolve({ code, signal, err, out })),
  );
  return { child, done };
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('lspctl checkout --hold', () => {
  let fx: Fixture;
  let server: ServerProcess;
  const admin = adminClient(() => fx.token);
  const running: Run[] = [];
  const leasesOf = async (clientId: string) =>
    (await admin.leases(server)).filter((l) => l.clientId === clientId);
  const hold = (clientId: string, command: string[], extra: string[] = []): Run => {
    const r = lspctl([
      'checkout',
      'synth',
      '--url',
      server.clientUrl,
      '--client-id',
      clientId,
      ...extra,
      '--hold',
      '--',
      ...command,
    ]);
    running.push(r);
    return r;
  };

  beforeAll(async () => {
    fx = makeFixture([feature('synth', 2)]);
    // one member without a peer: it needs no standby's acknowledgement
    server = await ServerProcess.create({
      name: 'single',
      pairId: PAIR_ID,
      licenceFile: fx.licenceFile,
      publicKeyFile: fx.publicKeyFile,
      tokenFile: fx.tokenFile,
      stateDir: fx.stateDir('single'),
      logDir: fx.dir,
      env: { LS_LEASE_TTL_SECONDS: '2', LS_SWEEP_INTERVAL_MS: '100' },
    });
    await server.start();
    expect(await admin.post(server, '/v1/admin/promote', { epoch: 1 })).toMatchObject({ status: 200 });
  });
  afterAll(async () => {
    for (const r of running) r.child.kill('SIGKILL');
    await server?.stop();
    fx?.cleanup();
  });

  it("exits with the command's status (3), renews the lease while it runs, and releases it afterwards", async () => {
    const file = path.join(fx.dir, 'exit3.lease');
    const r = hold('exit3', ['sh', '-c', `echo "$LSPCTL_LEASE_ID" > ${file}; sleep 3; exit 3`]);
    const [lease] = await until('the lease', async () => {
      const l = await leasesOf('exit3');
      return l.length > 0 && l;
    });
    // the command sees the lease it runs under
    await until(
      'the command started',
      () => fs.existsSync(file) && fs.readFileSync(file, 'utf8').trim() !== '',
    );
    expect(fs.readFileSync(file, 'utf8').trim()).toBe(lease!.id);
    // past the TTL (2 s) the lease is still there: lspctl renews it
    await new Promise((res) => setTimeout(res, 2500));
    expect((await leasesOf('exit3')).map((l) => l.id)).toEqual([lease!.id]);
    const end = await r.done;
    expect(end.code).toBe(3);
    expect(end.err).toBe('');
    expect(end.out).toBe(''); // stdout is the command's
    expect(await leasesOf('exit3')).toEqual([]);
  });

  it('no seat free: exits with NO_SEAT (121) and a clear message, without running the command', async () => {
    const post = (route: string, body: object) =>
      fetch(`${server.clientUrl}${route}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const taken: { leaseId: string; clientId: string }[] = [];
    for (const clientId of ['taker-1', 'taker-2']) {
      const res = await post('/v1/checkout', { feature: 'synth', clientId, user: 'u', host: 'h' });
      expect(res.status).toBe(200);
      const { lease } = (await res.json()) as { lease: { id: string } };
      taken.push({ leaseId: lease.id, clientId });
    }
    // the takers keep their seats for as long as the test runs: lspctl's start-up on a busy
    // machine can outlast the 2 s TTL, and an expired taker would free the seat it is meant to hold
    const renewing = setInterval(() => {
      for (const t of taken)
        void post('/v1/renew', t).then(
          (r) => r.body?.cancel(),
          () => undefined,
        );
    }, 400);
    try {
      const marker = path.join(fx.dir, 'noseat.ran');
      const end = await hold('noseat', ['sh', '-c', `touch ${marker}`]).done;
      expect(end.code).toBe(HOLD_EXIT.NO_SEAT);
      expect(end.err).toMatch(
        /^lspctl: no seat of synth is free: no seat free \(checkout of synth\): 409 NO_SEATS: all 2 seats of synth are in use/,
      );
      expect(fs.existsSync(marker)).toBe(false);
    } finally {
      clearInterval(renewing);
      for (const l of await admin.leases(server))
        await fetch(`${server.adminUrl}/v1/admin/leases/${l.id}`, {
          method: 'DELETE',
          headers: { authorization: `Bearer ${fx.token}` },
        });
    }
  });

  it('the server unreachable: exits with UNAVAILABLE (123) within the budget, naming the cause', async () => {
    const port = await freePort();
    const t0 = Date.now();
    const r = lspctl([
      'checkout',
      'synth',
      '--url',
      `http://127.0.0.1:${port}`,
      '--timeout',
      '800',
      '--hold',
      '--',
      'true',
    ]);
    running.push(r);
    const end = await r.done;
    expect(end.code).toBe(HOLD_EXIT.UNAVAILABLE);
    expect(end.err).toMatch(
      /^lspctl: the licence server is unreachable: no licence server did the checkout of synth within the retry budget of 800 ms/,
    );
    expect(end.err).toContain('ECONNREFUSED');
    expect(Date.now() - t0).toBeLessThan(800 + 8000); // lspctl's own start-up (on a busy machine) is the rest
  });

  it("SIGTERM to lspctl: forwarded to the command, then the lease is released; exits with the command's status", async () => {
    const pidFile = path.join(fx.dir, 'term.pid');
    const r = hold('term', ['sh', '-c', `echo $$ > ${pidFile}; exec sleep 30`]);
    await until(
      'the command started',
      () => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').trim() !== '',
    );
    const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    expect(await leasesOf('term')).toHaveLength(1);
    const t0 = Date.now();
    r.child.kill('SIGTERM');
    const end = await r.done;
    expect(end.code).toBe(128 + 15); // sleep was ended by the forwarded SIGTERM
    expect(Date.now() - t0).toBeLessThan(5000); // not the command's 30 s
    expect(alive(pid)).toBe(false);
    expect(await leasesOf('term')).toEqual([]);
  });

  it('the lease lost while the command runs: the command is sent SIGTERM, lspctl exits with LEASE_LOST (124)', async () => {
    const pidFile = path.join(fx.dir, 'lost.pid');
    const r = hold('lost', ['sh', '-c', `echo $$ > ${pidFile}; exec sleep 30`]);
    await until(
      'the command started',
      () => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').trim() !== '',
    );
    const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    const [lease] = await leasesOf('lost');
    const revoked = await fetch(`${server.adminUrl}/v1/admin/leases/${lease!.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${fx.token}` },
    });
    expect(revoked.status).toBe(200);
    const t0 = Date.now();
    const end = await r.done;
    expect(end.code).toBe(HOLD_EXIT.LEASE_LOST);
    expect(Date.now() - t0).toBeLessThan(4000); // the next renewal comes at half the TTL (1 s); the command would sleep 30 s
    expect(end.err).toMatch(
      new RegExp(
        `lspctl: lost lease ${lease!.id} of synth \\(1 seat\\) while sh \\(pid \\d+\\) runs: .*LEASE_NOT_FOUND.*; sending it SIGTERM`,
      ),
    );
    expect(end.err).toMatch(/lspctl: sh was stopped \(exit status 143\)/);
    expect(alive(pid)).toBe(false);
  });

  it('a command that does not exist: exits 127 and releases the lease', async () => {
    const end = await hold('missing', ['no-such-command-here']).done;
    expect(end.code).toBe(HOLD_EXIT.NOT_FOUND);
    expect(end.err).toMatch(/^lspctl: cannot run no-such-command-here: spawn no-such-command-here ENOENT/);
    expect(await leasesOf('missing')).toEqual([]);
  });

  it('without a command: prints the lease, holds it until SIGINT, releases it and exits 0', async () => {
    const r = lspctl(['checkout', 'synth', '--url', server.clientUrl, '--client-id', 'plain', '--hold']);
    running.push(r);
    let printed = '';
    r.child.stdout?.on('data', (d: Buffer) => (printed += d.toString()));
    await until('the lease printed', () => printed.includes('\n'));
    const lease = JSON.parse(printed) as { id: string; clientId: string };
    expect(lease.clientId).toBe('plain');
    expect((await leasesOf('plain')).map((l) => l.id)).toEqual([lease.id]);
    r.child.kill('SIGINT');
    const end = await r.done;
    expect(end.code).toBe(0);
    expect(await leasesOf('plain')).toEqual([]);
  });
});
