// R5 (docs/reliability.md): a standby promoted after its active vanished waits out its last
// promise to it, unless the operator says the process it promised has exited. Two members in one
// process over the real replication stream; the active is closed as a killed process would be.
import { afterEach, describe, expect, it } from 'vitest';
import { startServer } from '../../../src/license-server/main.ts';
import type { RunningServer } from '../../../src/license-server/main.ts';
import { freePort, until } from '../../process/harness.ts';
import { feature, makeFixture, testConfig } from './fixtures.ts';
import type { Fixture } from './fixtures.ts';

// Long enough that a wait cannot pass unnoticed, short enough for a unit test.
const PROMISE_MS = 1500;

describe('promotion after the active is gone', () => {
  let fx: Fixture;
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
    fx.cleanup();
  });

  /** `promiseMs`: each member's own P (active, standby). */
  async function standbyOfAClosedActive(
    promiseMs: [number, number] = [PROMISE_MS, PROMISE_MS],
  ): Promise<RunningServer> {
    const [pa, pb] = [await freePort(), await freePort()];
    const cfg = (member: string, port: number, peer: number, peerPromiseMs: number) =>
      testConfig(fx, {
        member,
        adminPort: port,
        peerUrl: `http://127.0.0.1:${peer}`,
        peerPromiseMs,
        heartbeatMs: 100,
      });
    const a = await startServer(cfg('primary', pa, pb, promiseMs[0]));
    const b = await startServer(cfg('redundant', pb, pa, promiseMs[1]));
    const startedAt = Date.now();
    closers.push(() => b.close());
    expect((await a.member.promote(1, false)).ok).toBe(true);
    await until('the standby in sync', () => b.member.status().replication.state === 'in-sync');
    // past the promise a standby keeps from its start (its previous process may have made one)
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, startedAt + 1200 - Date.now())));
    await a.close();
    return b;
  }

  it('waits out the promise when nothing says the active stopped, ready all the while', async () => {
    fx = makeFixture([feature('synth', 5)]);
    const b = await standbyOfAClosedActive();
    // It holds everything its active announced: the kubelet must not see it NotReady as it is promoted.
    expect(b.member.ready()).toMatchObject({ ready: true });
    const promotion = b.member.promote(2, true);
    await new Promise((resolve) => setTimeout(resolve, PROMISE_MS / 4));
    expect(b.member.status().role).toBe('standby');
    expect(b.member.ready()).toMatchObject({ ready: true });
    const r = await promotion;
    expect(r).toMatchObject({ ok: true, role: 'active', epoch: 2 });
    // the last acknowledgement went out at most a heartbeat before the close
    expect(r.ok && r.waitedMs).toBeGreaterThan(PROMISE_MS / 2);
  });

  it('becomes active at once when the operator saw the process it promised exit', async () => {
    fx = makeFixture([feature('synth', 5)]);
    const b = await standbyOfAClosedActive();
    const r = await b.member.promote(2, true, { peerExited: true });
    expect(r).toMatchObject({ ok: true, role: 'active', epoch: 2, waitedMs: 0 });
    expect(b.member.status().role).toBe('active');
  });

  it('members that agree on a short P wait that P out, not the 1000 ms of an active that does not say its own', async () => {
    fx = makeFixture([feature('synth', 5)]);
    const b = await standbyOfAClosedActive([500, 500]);
    const r = await b.member.promote(2, true);
    expect(r).toMatchObject({ ok: true, role: 'active', epoch: 2 });
    expect(r.ok && r.waitedMs).toBeLessThanOrEqual(500);
    expect(r.ok && r.waitedMs).toBeGreaterThan(200); // the last promise went out a heartbeat before the close at most
  });

  it("an active that counts with a longer P than its standby's own: the standby promises (and waits) the longer", async () => {
    fx = makeFixture([feature('synth', 5)]);
    const b = await standbyOfAClosedActive([PROMISE_MS, 500]);
    const r = await b.member.promote(2, true);
    expect(r).toMatchObject({ ok: true, role: 'active', epoch: 2 });
    expect(r.ok && r.waitedMs).toBeGreaterThan(PROMISE_MS / 2);
  });
});
