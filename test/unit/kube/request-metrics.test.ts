import * as k8s from '@kubernetes/client-node';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countApiRequests } from '../../../src/kube/request-metrics.ts';

// A plain HTTP server stands in for the API server: what is counted is the client side.
let server: http.Server;
let other: http.Server;
let base = '';
let otherBase = '';

function listen(handler: http.RequestListener): Promise<[http.Server, string]> {
  const s = http.createServer(handler);
  return new Promise((r) =>
    s.listen(0, '127.0.0.1', () => r([s, `http://127.0.0.1:${(s.address() as AddressInfo).port}`])),
  );
}

beforeAll(async () => {
  [server, base] = await listen((req, res) => {
    if (req.url?.startsWith('/api/v1/namespaces/ns/configmaps/missing')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', code: 404, reason: 'NotFound' }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({ kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'x', namespace: 'ns' } }),
    );
  });
  [other, otherBase] = await listen((_req, res) => res.end('ok'));
});

afterAll(() => {
  server.close();
  other.close();
});

function kubeConfig(server: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

describe('countApiRequests', () => {
  it('counts the client library requests to the API server by method and code, and nothing else', async () => {
    const registry = new Registry();
    const counter = new Counter({
      name: 'rest_client_requests_total',
      help: 'h',
      labelNames: ['method', 'code'] as const,
      registers: [registry],
    });
    const stop = countApiRequests(base, counter);
    const core = kubeConfig(base).makeApiClient(k8s.CoreV1Api);
    await core.readNamespacedConfigMap({ namespace: 'ns', name: 'x' });
    await core.readNamespacedConfigMap({ namespace: 'ns', name: 'x' });
    await expect(core.readNamespacedConfigMap({ namespace: 'ns', name: 'missing' })).rejects.toThrow();
    await core.patchNamespacedConfigMap(
      { namespace: 'ns', name: 'x', body: { data: { a: 'b' } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    // A member's health check on another origin is not an API request.
    await (await fetch(`${otherBase}/healthz`)).text();
    // An API server that does not answer: counted as an error.
    const [closed, deadBase] = await listen(() => undefined);
    await new Promise((r) => closed.close(r));
    const stopDead = countApiRequests(deadBase, counter);
    const dead = kubeConfig(deadBase).makeApiClient(k8s.CoreV1Api);
    await expect(dead.readNamespacedConfigMap({ namespace: 'ns', name: 'x' })).rejects.toThrow();
    stopDead();

    const values = Object.fromEntries(
      (await counter.get()).values.map((v) => [`${v.labels.method} ${v.labels.code}`, v.value]),
    );
    expect(values).toEqual({ 'GET 200': 2, 'GET 404': 1, 'PATCH 200': 1, 'GET <error>': 1 });

    stop();
    await core.readNamespacedConfigMap({ namespace: 'ns', name: 'x' });
    expect(
      (await counter.get()).values.find((v) => v.labels.code === '200' && v.labels.method === 'GET')?.value,
    ).toBe(2);
  });
});
