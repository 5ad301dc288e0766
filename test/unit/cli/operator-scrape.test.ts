import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { describeReadError, scrapeTargets } from '../../../src/cli/operator-scrape.ts';

function pod(
  name: string,
  extra: { phase?: string; ip?: string; deleting?: boolean; port?: string } = {},
): k8s.V1Pod {
  return {
    metadata: {
      name,
      namespace: 'lpo-system',
      ...(extra.deleting ? { deletionTimestamp: new Date('2026-03-01T12:00:00Z') } : {}),
    },
    spec: {
      containers: [
        {
          name: 'operator',
          ports: [
            { name: 'health', containerPort: 8081 },
            { name: extra.port ?? 'metrics', containerPort: 8080 },
          ],
        },
      ],
    },
    status: { phase: extra.phase ?? 'Running', podIP: extra.ip ?? '10.0.0.9' },
  };
}

describe('scrapeTargets', () => {
  it("reads running pods on the port named metrics (the proxy needs a number, not the port's name)", () => {
    expect(scrapeTargets([pod('op-a'), pod('op-b')])).toEqual([
      { namespace: 'lpo-system', pod: 'op-a', proxyName: 'op-a:8080' },
      { namespace: 'lpo-system', pod: 'op-b', proxyName: 'op-b:8080' },
    ]);
  });

  it('leaves out pods that are not running, have no IP yet or are going away', () => {
    expect(
      scrapeTargets([
        pod('pending', { phase: 'Pending' }),
        pod('no-ip', { ip: '' }),
        pod('gone', { deleting: true }),
      ]),
    ).toEqual([]);
  });

  it('reads a pod without a metrics port on its first port, as the proxy does', () => {
    expect(scrapeTargets([pod('op-a', { port: 'http' })])).toEqual([
      { namespace: 'lpo-system', pod: 'op-a', proxyName: 'op-a' },
    ]);
  });
});

describe('describeReadError', () => {
  it('says forbidden with the API server’s message', () => {
    const forbidden = new k8s.ApiException(
      403,
      'Forbidden',
      { message: 'pods "op-a" is forbidden: User "bob" cannot get resource "pods/proxy"' },
      {},
    );
    expect(describeReadError(forbidden, 3000)).toBe(
      'forbidden: pods "op-a" is forbidden: User "bob" cannot get resource "pods/proxy"',
    );
  });

  it("passes the proxy's own failures on, and names a timeout", () => {
    const dial = new k8s.ApiException(
      503,
      'u',
      JSON.stringify({ message: 'error trying to reach service: dial tcp 10.0.0.9:8080: i/o timeout' }),
      {},
    );
    expect(describeReadError(dial, 3000)).toBe(
      'the API server answered 503: error trying to reach service: dial tcp 10.0.0.9:8080: i/o timeout',
    );
    const timeout = Object.assign(new Error('The operation was aborted due to timeout'), {
      name: 'TimeoutError',
    });
    expect(describeReadError(timeout, 3000)).toBe('no answer within 3 s');
    const refused = Object.assign(new Error('fetch failed'), { cause: { message: 'connect ECONNREFUSED' } });
    expect(describeReadError(refused, 3000)).toBe('connect ECONNREFUSED');
  });
});
