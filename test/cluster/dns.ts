import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { binaryPath, binLinkDir, clusterDir, kubeconfigPath, net } from './config.ts';
import { readState } from './control-plane.ts';
import { log, runningPid, startProcess, stopProcess, waitFor } from './processes.ts';

/**
 * Cluster DNS: CoreDNS (built from source) runs as a host process on the node's address, and the
 * usual `kube-system/kube-dns` Service (10.96.0.10) points at it through a selector-less
 * EndpointSlice, so pods resolve `<service>.<namespace>.svc.cluster.local` through kube-proxy
 * exactly as with an in-cluster CoreDNS.
 */
const healthPort = 18053;

export async function corednsUp(): Promise<void> {
  if (runningPid('coredns') !== undefined) return;
  const state = readState();
  if (!state) throw new Error('control plane not up');
  const dir = path.join(clusterDir, 'coredns');
  mkdirSync(dir, { recursive: true });
  const corefile = path.join(dir, 'Corefile');
  writeFileSync(
    corefile,
    `.:53 {
    bind ${state.hostIP}
    errors
    health 127.0.0.1:${healthPort}
    kubernetes ${net.clusterDomain} in-addr.arpa ip6.arpa {
        kubeconfig ${kubeconfigPath} lpo-local
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 5
    loop
}
`,
  );
  log('starting CoreDNS');
  startProcess('coredns', binaryPath('coredns'), ['-conf', corefile]);
  await waitFor(
    'CoreDNS health',
    async () => (await fetch(`http://127.0.0.1:${healthPort}/health`)).ok,
    30_000,
    'coredns',
  );
  const manifest = `apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns}
spec:
  clusterIP: ${net.dnsServiceIP}
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 53}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-host
  namespace: kube-system
  labels:
    kubernetes.io/service-name: kube-dns
    endpointslice.kubernetes.io/managed-by: license-pair-operator.local-cluster
addressType: IPv4
endpoints:
- addresses: ["${state.hostIP}"]
  conditions: {ready: true}
ports:
- {name: dns, port: 53, protocol: UDP}
- {name: dns-tcp, port: 53, protocol: TCP}
`;
  const r = spawnSync(
    path.join(binLinkDir, 'kubectl'),
    ['--kubeconfig', kubeconfigPath, 'apply', '-f', '-'],
    { input: manifest, encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`could not create the kube-dns Service: ${r.stderr}`);
  log(`cluster DNS at ${net.dnsServiceIP} (CoreDNS on ${state.hostIP}:53)`);
}

export async function corednsDown(): Promise<void> {
  if (await stopProcess('coredns')) log('stopped CoreDNS');
}
