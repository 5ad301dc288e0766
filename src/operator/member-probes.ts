import type { V1Probe } from '@kubernetes/client-node';
import { healthCheckTimeoutMs, type LicenseServerPair } from '../api/pair.ts';
import { portScheme } from './serves-tls.ts';

function healthProbe(pair: LicenseServerPair): V1Probe {
  const hc = pair.spec.healthCheck;
  return hc.type === 'HTTP'
    ? { httpGet: { path: hc.path ?? '/healthz', port: hc.port, scheme: portScheme(pair, hc.port) } }
    : { tcpSocket: { port: hc.port } };
}

export function readinessProbe(pair: LicenseServerPair): V1Probe {
  const hc = pair.spec.healthCheck;
  const action: V1Probe =
    pair.spec.server.protocol === 'reference'
      ? { httpGet: { path: '/readyz', port: 'admin', scheme: portScheme(pair, 'admin') } }
      : healthProbe(pair);
  return {
    ...action,
    periodSeconds: hc.periodSeconds,
    // the kubelet counts whole seconds: a sub-second timeout is its shortest, one
    timeoutSeconds: Math.ceil(healthCheckTimeoutMs(hc) / 1000),
    failureThreshold: hc.failureThreshold,
    successThreshold: 1,
  };
}

/** A slow liveness probe that only restarts a member that hangs for a long time (failover is the operator's job). */
export function livenessProbe(pair: LicenseServerPair): V1Probe {
  const hc = pair.spec.healthCheck;
  return {
    ...healthProbe(pair),
    initialDelaySeconds: 10,
    periodSeconds: Math.max(10, hc.periodSeconds),
    timeoutSeconds: Math.max(Math.ceil(healthCheckTimeoutMs(hc) / 1000), 5),
    failureThreshold: 6,
    successThreshold: 1,
  };
}
