// Solo grants go out whatever the health checks are doing: with every check slot taken by members
// that do not answer (a thousand pairs, some hung), the pair serving alone is still granted every
// second. Real HTTP servers stand for the members.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Member } from '../../../src/api/pair.ts';
import { createMetrics } from '../../../src/operator/metrics.ts';
import type { ProbeTarget } from '../../../src/operator/probe-check.ts';
import { Prober } from '../../../src/operator/prober.ts';

const activeStatus = {
  role: 'active',
  epoch: 3,
  replication: { state: 'disconnected', peerLastSeenSeconds: 4 },
  serving: { right: 'none', anchor: 7 },
};

async function serve(handler: http.RequestListener): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer(handler);
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  return { server, port: (server.address() as AddressInfo).port };
}

const target = (pairKey: string, member: Member, port: number, periodMs: number): ProbeTarget => ({
  pairKey,
  member,
  podUID: `${pairKey}-${member}`,
  podIP: '127.0.0.1',
  type: 'HTTP',
  port,
  path: '/healthz',
  periodMs,
  timeoutMs: 30_000,
  failureThreshold: 3,
  successThreshold: 1,
  statusUrl: `http://127.0.0.1:${port}`,
  statusIsHealthCheck: true,
});

describe('Prober: solo grants while every check slot is taken', () => {
  const servers: http.Server[] = [];
  let prober: Prober | undefined;
  afterEach(async () => {
    prober?.stop();
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  it('sends the grant although the checks of hung members fill the concurrency', async () => {
    const grants: unknown[] = [];
    let grantSeen: () => void = () => undefined;
    const granted = new Promise<void>((resolve) => (grantSeen = resolve));
    const live = await serve((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        if (req.url === '/v1/admin/grant') {
          grants.push(JSON.parse(body));
          grantSeen();
        }
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(activeStatus));
      });
    });
    let hungRequests = 0;
    let bothHung: () => void = () => undefined;
    const hungFull = new Promise<void>((resolve) => (bothHung = resolve));
    // never answers: each check in flight holds a slot for its whole 30 s timeout
    const hung = await serve(() => {
      if (++hungRequests === 2) bothHung();
    });
    servers.push(live.server, hung.server);

    prober = new Prober({
      concurrency: 2,
      log: pino({ level: 'silent' }),
      metrics: createMetrics(),
      onChange: () => undefined,
    });
    // The live member is checked once (its answer is the grant's anchor), then not for a minute.
    prober.setTargets('lic/alone', [target('lic/alone', 'primary', live.port, 60_000)]);
    prober.start();
    // (a new member's first check comes within a second: the prober spreads them)
    await expect
      .poll(() => prober!.state('lic/alone', 'primary', 'lic/alone-primary').anchor?.n, { timeout: 5000 })
      .toBe(7);

    prober.setTargets('lic/hung', [
      target('lic/hung', 'primary', hung.port, 1000),
      target('lic/hung', 'redundant', hung.port, 1000),
    ]);
    await hungFull;
    prober.setGrant('lic/alone', { member: 'primary', epoch: 3, ms: 10_000 });
    await Promise.race([
      granted,
      new Promise((_, reject) => setTimeout(() => reject(new Error('no grant in 3 s')), 3000)),
    ]);
    expect(grants).toEqual([{ epoch: 3, anchor: 7, ms: 10_000 }]);
  });
});
