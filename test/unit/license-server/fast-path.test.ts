// The licences port answers checkout/renew/release on a path of its own, without express, when a
// request is plainly well-formed (http.ts, clientHandler). The same request with a "?" added to
// its URL goes through the express routes instead; both must answer alike, bad bodies included.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../../src/license-server/main.ts';
import type { RunningServer } from '../../../src/license-server/main.ts';
import { feature, makeFixture, testConfig } from './fixtures.ts';
import type { Fixture } from './fixtures.ts';

type Answer = {
  status: number;
  type: string | null;
  connection: string | null;
  body: Record<string, unknown>;
};

describe('the lease API without express', () => {
  let fx: Fixture;
  let s: RunningServer;

  const call = async (path: string, body: string, headers: Record<string, string> = {}): Promise<Answer> => {
    const r = await fetch(`http://127.0.0.1:${s.ports.licences}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });
    return {
      status: r.status,
      type: r.headers.get('content-type'),
      connection: r.headers.get('connection'),
      body: (await r.json()) as Record<string, unknown>,
    };
  };
  /** Times differ between two calls; everything else must not. */
  const timeless = (a: Answer): Answer => {
    const lease = a.body.lease as Record<string, unknown> | undefined;
    if (!lease) return a;
    const { expiresAt: _a, expiresInSeconds: _b, renewAfterSeconds: _c, ...rest } = lease;
    return { ...a, body: { ...a.body, lease: rest } };
  };
  /** The answer of the fast path, after checking that express answers the same. */
  const both = async (route: string, body: string, headers: Record<string, string> = {}): Promise<Answer> => {
    const fast = await call(route, body, headers);
    const viaExpress = await call(`${route}?`, body, headers);
    expect(timeless(fast)).toEqual(timeless(viaExpress));
    return fast;
  };
  const checkout = (clientId: string, extra = ''): string =>
    `{"feature":"synth","clientId":"${clientId}","user":"u","host":"h"${extra}}`;

  beforeAll(async () => {
    fx = makeFixture([feature('synth', 2)]);
    s = await startServer(testConfig(fx));
  });
  afterAll(async () => {
    await s.close();
    fx.cleanup();
  });

  it('answers a standby NOT_ACTIVE and closes the connection', async () => {
    const a = await both('/v1/checkout', checkout('a'));
    expect(a).toMatchObject({ status: 503, connection: 'close', body: { code: 'NOT_ACTIVE' } });
    expect(s.member.seq).toBe(0);
  });

  it('answers calls and refusals alike, and a refused body changes nothing', async () => {
    expect((await s.member.promote(1, true)).ok).toBe(true);
    expect((await call('/v1/checkout', checkout('a'))).status).toBe(200);
    const ok = await both('/v1/checkout', checkout('a'));
    expect(ok).toMatchObject({
      status: 200,
      type: 'application/json; charset=utf-8',
      body: { lease: { clientId: 'a', existing: true } },
    });
    const id = (ok.body.lease as { id: string }).id;
    const seq = s.member.seq;
    const refused: [string, string, number][] = [
      ['/v1/checkout', '{not json', 400],
      ['/v1/checkout', '"x"', 400],
      ['/v1/checkout', ' \n nope', 400],
      ['/v1/checkout', '5', 400],
      ['/v1/checkout', '   ', 400],
      ['/v1/checkout', '[1]', 400],
      ['/v1/checkout', '{"feature":"synth"}', 400],
      ['/v1/checkout', checkout('a', ',"x":1'), 400],
      ['/v1/checkout', checkout('a', ',"count":0'), 400],
      ['/v1/checkout', '{"feature":"nope","clientId":"z","user":"u","host":"h"}', 404],
      ['/v1/renew', `{"leaseId":"${id}","clientId":"someone-else"}`, 404],
      ['/v1/renew', '{"leaseId":"1-999999","clientId":"a"}', 404],
      ['/v1/release', '{"leaseId":5,"clientId":"a"}', 400],
    ];
    for (const [route, body, status] of refused) {
      const a = await both(route, body);
      expect({ body, status: a.status }).toEqual({ body, status });
      expect(typeof a.body.code).toBe('string');
      expect(typeof a.body.message).toBe('string');
    }
    expect(s.member.seq).toBe(seq);
    // a byte-order mark, whitespace and a charset are what express.json() accepts too
    expect((await both('/v1/checkout', `\uFEFF ${checkout('a')}`)).status).toBe(200);
    expect(
      (await both('/v1/checkout', checkout('a'), { 'content-type': 'application/json; charset=utf-8' }))
        .status,
    ).toBe(200);
    expect((await both('/v1/renew', `{"leaseId":"${id}","clientId":"a"}`)).status).toBe(200);
    // the seats are gone: both answer NO_SEATS
    expect((await call('/v1/checkout', checkout('b'))).status).toBe(200);
    expect(await both('/v1/checkout', checkout('c'))).toMatchObject({
      status: 409,
      body: { code: 'NO_SEATS' },
    });
  });

  it('releases on either path', async () => {
    const lease = (await call('/v1/checkout', checkout('a'))).body.lease as { id: string };
    expect(await call('/v1/release', `{"leaseId":"${lease.id}","clientId":"a"}`)).toMatchObject({
      status: 200,
      body: { released: true, leaseId: lease.id },
    });
    const again = await call('/v1/checkout', checkout('a'));
    const viaExpress = await call(
      '/v1/release?',
      `{"leaseId":"${(again.body.lease as { id: string }).id}","clientId":"a"}`,
    );
    expect(viaExpress).toMatchObject({ status: 200, body: { released: true } });
  });
});
