import * as k8s from '@kubernetes/client-node';
import diagnostics from 'node:diagnostics_channel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shareConnections } from '../../src/kube/connections.ts';
import { kubeconfigPath } from '../cluster/config.ts';

// The operator's API calls share one connection pool (src/kube/connections.ts): counted here as
// the TLS connections undici opens to the real API server.

let opened = 0;
let server = '';
const onConnected = (msg: unknown) => {
  const { connectParams } = msg as { connectParams: { host?: string; hostname?: string; port?: string } };
  if (`${connectParams.hostname ?? connectParams.host}:${connectParams.port}` === server) opened++;
};

beforeAll(() => {
  diagnostics.subscribe('undici:client:connected', onConnected);
});

afterAll(() => {
  diagnostics.unsubscribe('undici:client:connected', onConnected);
});

function config(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const url = new URL(kc.getCurrentCluster()!.server);
  server = `${url.hostname}:${url.port || '443'}`;
  return kc;
}

describe('connections to the API server', () => {
  it('are reused across API calls and API clients', async () => {
    const kc = shareConnections(config());
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    opened = 0;
    for (let i = 0; i < 20; i++) {
      await core.readNamespace({ name: 'default' });
      await objects.read({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kube-system' } });
    }
    // 40 calls one after another: one connection (a second if the server closed an idle one).
    expect(opened).toBeGreaterThanOrEqual(1);
    expect(opened).toBeLessThanOrEqual(2);

    // Concurrent calls open what they need, and the pool keeps them for the next burst.
    opened = 0;
    await Promise.all(Array.from({ length: 8 }, () => core.readNamespace({ name: 'default' })));
    const afterFirstBurst = opened;
    await Promise.all(Array.from({ length: 8 }, () => core.readNamespace({ name: 'default' })));
    expect(afterFirstBurst).toBeLessThanOrEqual(8);
    expect(opened).toBe(afterFirstBurst);
  });

  it('are what client-node opens per call without it (the reason it exists)', async () => {
    const core = config().makeApiClient(k8s.CoreV1Api);
    opened = 0;
    for (let i = 0; i < 10; i++) await core.readNamespace({ name: 'default' });
    // If this fails, client-node reuses connections by itself and shareConnections can go.
    expect(opened).toBe(10);
  });
});
