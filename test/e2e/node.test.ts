import * as k8s from '@kubernetes/client-node';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binLinkDir, kubeconfigPath } from '../cluster/config.ts';
import { killContainer } from '../cluster/node.ts';
import { requestOnNewConnection } from '../support/http.ts';
import { createNamespace, deleteNamespace, eventually, kube, type Kube } from '../support/kube.ts';

// Smoke tests of the real node: containerd runs locally built images, the kubelet runs readiness
// probes and restarts containers, kube-proxy routes ClusterIPs (also after a selector change),
// CoreDNS resolves Service names, and the Deployment controller replaces deleted pods.

const image = 'lpo.local/echo:test';
let k: Kube;
let ns: string;

const restricted = {
  runAsNonRoot: true,
  runAsUser: 65532,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

function echoPod(name: string, labels: Record<string, string>): k8s.V1Pod {
  return {
    metadata: { name, labels },
    spec: {
      terminationGracePeriodSeconds: 2,
      containers: [
        {
          name: 'echo',
          image,
          imagePullPolicy: 'Never',
          env: [{ name: 'ECHO_NAME', value: name }],
          ports: [{ containerPort: 8080, name: 'http' }],
          readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 1 },
          securityContext: restricted,
        },
      ],
    },
  };
}

async function ready(name: string): Promise<k8s.V1Pod> {
  return eventually(
    `pod ${name} Ready`,
    async () => {
      const pod = await k.core.readNamespacedPod({ namespace: ns, name });
      return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? pod : undefined;
    },
    90_000,
    250,
  );
}

async function getFromHost(url: string): Promise<{ name: string } | undefined> {
  try {
    return JSON.parse((await requestOnNewConnection(url)).body) as { name: string };
  } catch {
    return undefined;
  }
}

function kubectl(args: string[]): string {
  return execFileSync(path.join(binLinkDir, 'kubectl'), ['--kubeconfig', kubeconfigPath, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
  });
}

beforeAll(async () => {
  k = kube();
  ns = await createNamespace(k, 'node-smoke');
  await eventually(
    'the default ServiceAccount',
    async () => !!(await k.core.readNamespacedServiceAccount({ namespace: ns, name: 'default' })),
    30_000,
  );
});

afterAll(async () => {
  await deleteNamespace(k, ns);
});

describe('a real node', () => {
  it('runs a pod from a locally built image to Running and Ready through its readiness probe', async () => {
    await k.core.createNamespacedPod({
      namespace: ns,
      body: echoPod('echo-a', { app: 'echo', member: 'a' }),
    });
    const pod = await ready('echo-a');
    expect(pod.status?.phase).toBe('Running');
    expect(pod.status?.podIP).toMatch(/^10\.244\.0\.\d+$/);
    expect(pod.status?.containerStatuses?.[0]?.imageID).toContain('sha256:');
  });

  it('routes a ClusterIP Service from the host and from another pod, by name through cluster DNS', async () => {
    const svc = await k.core.createNamespacedService({
      namespace: ns,
      body: {
        metadata: { name: 'echo' },
        spec: { selector: { app: 'echo', member: 'a' }, ports: [{ port: 80, targetPort: 8080 }] },
      },
    });
    const ip = svc.spec!.clusterIP!;
    const fromHost = await eventually(
      'the Service to answer from the host',
      () => getFromHost(`http://${ip}/`),
      30_000,
    );
    expect(fromHost.name).toBe('echo-a');

    await k.core.createNamespacedPod({ namespace: ns, body: echoPod('client', { app: 'client' }) });
    await ready('client');
    const body = await eventually(
      'the Service to answer another pod',
      async () => {
        try {
          return kubectl([
            '-n',
            ns,
            'exec',
            'client',
            '--',
            '/usr/local/bin/node',
            '/app/main.mjs',
            'get',
            `http://echo.${ns}.svc.cluster.local/`,
          ]);
        } catch {
          return undefined;
        }
      },
      30_000,
      500,
    );
    expect(JSON.parse(body).name).toBe('echo-a');
  });

  it('moves traffic to another pod when the Service selector changes, and says how fast', async () => {
    await k.core.createNamespacedPod({
      namespace: ns,
      body: echoPod('echo-b', { app: 'echo', member: 'b' }),
    });
    await ready('echo-b');
    const svc = await k.core.readNamespacedService({ namespace: ns, name: 'echo' });
    const url = `http://${svc.spec!.clusterIP}/`;
    expect((await getFromHost(url))?.name).toBe('echo-a');

    const started = performance.now();
    await k.core.patchNamespacedService(
      { namespace: ns, name: 'echo', body: { spec: { selector: { app: 'echo', member: 'b' } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await eventually(
      'traffic on echo-b',
      async () => (await getFromHost(url))?.name === 'echo-b',
      30_000,
      20,
    );
    const ms = performance.now() - started;
    console.log(`kube-proxy followed the selector change in ${ms.toFixed(0)} ms`);
    // Once moved, every request goes to the new pod.
    for (let i = 0; i < 20; i++) expect((await getFromHost(url))?.name).toBe('echo-b');
    expect(ms).toBeLessThan(30_000);
  });

  it('restarts a killed container', async () => {
    const before = await ready('echo-a');
    const containerId = before.status!.containerStatuses![0]!.containerID!.replace('containerd://', '');
    killContainer(containerId);
    const after = await eventually(
      'the container to be restarted and Ready',
      async () => {
        const pod = await k.core.readNamespacedPod({ namespace: ns, name: 'echo-a' });
        const cs = pod.status?.containerStatuses?.[0];
        return cs && cs.restartCount >= 1 && cs.ready ? pod : undefined;
      },
      90_000,
      250,
    );
    expect(after.status!.containerStatuses![0]!.lastState?.terminated?.exitCode).toBe(137);
    expect(after.metadata?.uid).toBe(before.metadata?.uid);
  });

  it('recreates a deleted pod of a Deployment', async () => {
    await k.apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: 'echo-deploy' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'echo-deploy' } },
          template: { metadata: { labels: { app: 'echo-deploy' } }, spec: echoPod('unused', {}).spec! },
        },
      },
    });
    const readyPods = async () => {
      const pods = await k.core.listNamespacedPod({ namespace: ns, labelSelector: 'app=echo-deploy' });
      return pods.items.filter(
        (p) =>
          !p.metadata?.deletionTimestamp &&
          p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      );
    };
    const [first] = await eventually(
      'the Deployment pod Ready',
      async () => ((await readyPods()).length === 1 ? readyPods() : undefined),
      90_000,
      250,
    );
    await k.core.deleteNamespacedPod({ namespace: ns, name: first!.metadata!.name! });
    const [second] = await eventually(
      'a replacement pod Ready',
      async () => {
        const pods = await readyPods();
        return pods.length === 1 && pods[0]!.metadata!.uid !== first!.metadata!.uid ? pods : undefined;
      },
      90_000,
      250,
    );
    expect(second!.metadata!.name).not.toBe(first!.metadata!.name);
  });
});
