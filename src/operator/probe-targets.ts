// What the prober checks for one pair, from its spec and pods: one target per member pod that has
// an address. Pure: the TLS options and the token come in as arguments.
import type * as k8s from '@kubernetes/client-node';
import { healthCheckTimeoutMs, MEMBERS, type LicenseServerPair, type Member } from '../api/pair.ts';
import { podServesTls, portScheme } from './serves-tls.ts';
import type { MemberCallTls } from './member-wire.ts';
import type { ProbeTarget } from './probe-check.ts';
import { memberAdminBaseUrl } from './tls/member-endpoint.ts';

export function probeTargets(
  key: string,
  pair: LicenseServerPair,
  pods: Record<Member, k8s.V1Pod | undefined>,
  token: string | undefined,
  tlsFor: (m: Member) => MemberCallTls | undefined,
): ProbeTarget[] {
  const hc = pair.spec.healthCheck;
  const ports = pair.spec.server.ports;
  const port = typeof hc.port === 'number' ? hc.port : ports[hc.port as keyof typeof ports];
  const path = hc.path ?? '/healthz';
  // The contract's default check on the admin port: the status read stands for it (statusCheck).
  const statusIsHealthCheck = hc.type === 'HTTP' && port === ports.admin && path === '/healthz';
  // The pod's own mode, not the spec's: a pod made before TLS (or during a rollout) is plaintext.
  const httpsCheck = (m: Member) => podServesTls(pods[m]) && portScheme(pair, port) === 'HTTPS';
  const targets: ProbeTarget[] = [];
  for (const m of MEMBERS) {
    const pod = pods[m];
    const ip = pod?.status?.podIP;
    // A deleting pod is still checked while it runs: a leaving live member that answers is
    // handed over (failover.ts, row 3a) rather than failed over.
    if (!pod?.metadata?.uid || !ip) continue;
    const tls = tlsFor(m);
    targets.push({
      pairKey: key,
      member: m,
      podUID: pod.metadata.uid,
      podIP: ip,
      type: hc.type,
      port,
      path,
      periodMs: hc.periodSeconds * 1000,
      timeoutMs: healthCheckTimeoutMs(hc),
      failureThreshold: hc.failureThreshold,
      successThreshold: hc.successThreshold,
      ...(httpsCheck(m) ? { httpsCheck: true, ...(tls ? { tls } : {}) } : {}),
      ...(pair.spec.server.protocol === 'reference'
        ? {
            statusUrl: memberAdminBaseUrl(pair, pod, ip),
            ...(token ? { token } : {}),
            ...(tls ? { tls } : {}),
            statusIsHealthCheck,
          }
        : {}),
    });
  }
  return targets;
}
