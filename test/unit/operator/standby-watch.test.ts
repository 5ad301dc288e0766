// The status read held open on a standby: an answer that is news (the standby in sync again while
// the read was held) reaches the decision as a signal, as a check's would. A real HTTP server
// stands for the standby; it answers when the test says so.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Member } from '../../../src/api/pair.ts';
import { EMPTY_PROBE_HISTORY, type ServerReport } from '../../../src/operator/observation.ts';
import type { ProbeSignal, ProbeTarget } from '../../../src/operator/probe-check.ts';
import { reportNews } from '../../../src/operator/probe-check.ts';
import { watchStandbys, type WatchedEntry } from '../../../src/operator/standby-watch.ts';

const report = (role: 'active' | 'standby', replication: ServerReport['replication']): ServerReport => ({
  role,
  epoch: 5,
  replication,
  peerLastSeenSeconds: 0.1,
  at: 0,
});

describe('reportNews', () => {
  it('is a change of role, epoch, replication, right or licence, not of figures', () => {
    const a = report('standby', 'in-sync');
    expect(reportNews(a, { ...a, peerLastSeenSeconds: 0.3, at: 9 })).toBe(false);
    expect(reportNews(a, { ...a, replication: 'disconnected' })).toBe(true);
    expect(reportNews(a, { ...a, role: 'active' })).toBe(true);
    expect(reportNews(a, { ...a, epoch: 6 })).toBe(true);
    expect(reportNews(a, undefined)).toBe(true);
  });
});

describe('watchStandbys', () => {
  const servers: http.Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  });

  it('signals a held answer that changed the standby report (in sync again after a switchover)', async () => {
    let answer: ((body: unknown) => void) | undefined;
    let seen: () => void = () => undefined;
    const asked = new Promise<void>((resolve) => (seen = resolve));
    const server = http.createServer((_req, res) => {
      answer = (body) => res.end(JSON.stringify(body));
      seen();
    });
    servers.push(server);
    await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
    const port = (server.address() as AddressInfo).port;
    const target = (member: Member, statusUrl?: string): ProbeTarget => ({
      pairKey: 'lic/eda',
      member,
      podUID: `uid-${member}`,
      podIP: '127.0.0.1',
      type: 'HTTP',
      port,
      path: '/healthz',
      periodMs: 1000,
      timeoutMs: 1000,
      failureThreshold: 3,
      successThreshold: 1,
      ...(statusUrl ? { statusUrl } : {}),
    });
    const standby: WatchedEntry = {
      target: target('redundant', `http://127.0.0.1:${port}`),
      state: { history: EMPTY_PROBE_HISTORY, server: report('standby', 'in-sync') },
    };
    const live: WatchedEntry = {
      target: target('primary'),
      state: { history: EMPTY_PROBE_HISTORY, server: report('active', 'in-sync') },
    };
    const signals: ProbeSignal[] = [];
    const ctx = {
      entries: () => [standby, live],
      entry: (_k: string, m: Member) => (m === 'redundant' ? standby : live),
      now: () => performance.now(),
      running: () => true,
      confirm: () => undefined,
      onChange: (_k: string, s: ProbeSignal) => signals.push(s),
    };
    watchStandbys(ctx, performance.now());
    await asked;
    expect(standby.watching).toBe(true);
    // While the read is held, a check records the standby cut off from its active (the switchover).
    standby.state = { ...standby.state, server: report('standby', 'disconnected') };
    answer!({ role: 'standby', epoch: 5, replication: { state: 'in-sync', peerLastSeenSeconds: 0.1 } });
    await expect.poll(() => standby.watching).toBe(false);
    expect(standby.state.server?.replication).toBe('in-sync');
    expect(signals).toEqual(['changed']);
  });
});
