import * as k8s from '@kubernetes/client-node';
import diagnostics from 'node:diagnostics_channel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shareConnections } from '../../src/kube/connections.ts';
import path from 'node:path';
import { clusterDir, kubeconfigPath } from '../cluster/config.ts';

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

  it('follow a change of client certificate: new calls use the new one', async () => {
    const kc = shareConnections(config());
    const auth = kc.makeApiClient(k8s.AuthenticationV1Api);
    const whoAmI = async () =>
      (
        await auth.createSelfSubjectReview({
          body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
        })
      ).status?.userInfo?.username;
    opened = 0;
    const before = await whoAmI();
    // Another client certificate of the same cluster (the scheduler's), as a rotated one would be.
    const other = new k8s.KubeConfig();
    other.loadFromFile(path.join(clusterDir, 'scheduler.kubeconfig'));
    const user = kc.getCurrentUser()!;
    Object.assign(user, {
      certData: other.getCurrentUser()!.certData,
      keyData: other.getCurrentUser()!.keyData,
    });
    const after = await whoAmI();
    expect(before).not.toBe(after);
    expect(after).toBe('system:kube-scheduler');
    expect(opened).toBe(2);
    // And it is shared again from then on.
    await whoAmI();
    expect(opened).toBe(2);
  });

  it('are what client-node opens per call without it (the reason it exists)', async () => {
    const core = config().makeApiClient(k8s.CoreV1Api);
    opened = 0;
    for (let i = 0; i < 10; i++) await core.readNamespace({ name: 'default' });
    // If this fails, client-node reuses connections by itself and shareConnections can go.
    expect(opened).toBe(10);
  });
});
