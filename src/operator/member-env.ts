import type { V1EnvVar } from '@kubernetes/client-node';
import { healthCheckTimeoutMs, otherMember, type LicenseServerPair, type Member } from '../api/pair.ts';
import { ADMIN_TOKEN_KEY } from './admin-token-secret.ts';
import { childNames } from './child-names.ts';
import { DEFAULT_PROMISE_MS, heartbeatMsFor, peerPromiseMsFor } from './detection.ts';
import { MOUNT_ADMIN, MOUNT_LICENSE, MOUNT_TLS, STATE_DIR } from './member-volumes.ts';
import { servesTls } from './serves-tls.ts';

function scheme(pair: LicenseServerPair): 'http' | 'https' {
  return servesTls(pair) ? 'https' : 'http';
}

/** The peer's admin endpoint, through its per-member Service. */
export function memberAdminUrl(pair: LicenseServerPair, member: Member): string {
  const { namespace } = pair.metadata;
  return `${scheme(pair)}://${childNames(pair.metadata.name).memberService[member]}.${namespace}.svc:${pair.spec.server.ports.admin}`;
}

/** The member's licence endpoint, through its per-member Service. */
export function memberLicencesUrl(pair: LicenseServerPair, member: Member): string {
  const { namespace } = pair.metadata;
  return `${scheme(pair)}://${childNames(pair.metadata.name).memberService[member]}.${namespace}.svc:${pair.spec.server.ports.licences}`;
}

function contractEnv(pair: LicenseServerPair, member: Member): V1EnvVar[] {
  const ports = pair.spec.server.ports;
  return [
    { name: 'LS_PAIR_ID', value: `${pair.metadata.namespace}/${pair.metadata.name}` },
    { name: 'LS_MEMBER', value: member },
    { name: 'LS_PEER_URL', value: memberAdminUrl(pair, otherMember(member)) },
    // Where clients that reach the wrong member are sent (a NOT_ACTIVE answer names the active's).
    { name: 'LS_ADVERTISE_URL', value: memberLicencesUrl(pair, member) },
    { name: 'LS_LICENSE_FILE', value: `${MOUNT_LICENSE}/license.json` },
    { name: 'LS_PUBLIC_KEY_FILE', value: `${MOUNT_LICENSE}/public-key.pem` },
    { name: 'LS_ADMIN_TOKEN_FILE', value: `${MOUNT_ADMIN}/${ADMIN_TOKEN_KEY}` },
    { name: 'LS_STATE_DIR', value: STATE_DIR },
    { name: 'LS_PORT', value: String(ports.licences) },
    { name: 'LS_ADMIN_PORT', value: String(ports.admin) },
    { name: 'LS_METRICS_PORT', value: String(ports.metrics) },
    ...(servesTls(pair)
      ? [
          { name: 'LS_TLS_CERT_FILE', value: `${MOUNT_TLS}/tls.crt` },
          { name: 'LS_TLS_KEY_FILE', value: `${MOUNT_TLS}/tls.key` },
          { name: 'LS_TLS_CA_FILE', value: `${MOUNT_TLS}/ca.crt` },
        ]
      : []),
    ...promiseEnv(pair),
  ];
}

/**
 * A sub-second health-check timeout gives the members a shorter promise and heartbeat
 * (detection.ts). Set only then: a pair on the defaults keeps the pod spec it always had (no
 * rollout of every pair when the operator is upgraded).
 */
function promiseEnv(pair: LicenseServerPair): V1EnvVar[] {
  const promiseMs = peerPromiseMsFor(healthCheckTimeoutMs(pair.spec.healthCheck));
  if (promiseMs >= DEFAULT_PROMISE_MS) return [];
  return [
    { name: 'LS_PEER_PROMISE_MS', value: String(promiseMs) },
    { name: 'LS_HEARTBEAT_MS', value: String(heartbeatMsFor(promiseMs)) },
  ];
}

/** Contract variables first, then the user's; a user entry with the same name replaces the contract's. */
export function memberEnv(pair: LicenseServerPair, member: Member): V1EnvVar[] {
  const user = pair.spec.server.env ?? [];
  const base = contractEnv(pair, member).map((e) => {
    const u = user.find((x) => x.name === e.name);
    return u ? { name: u.name, value: u.value } : e;
  });
  const baseNames = new Set(base.map((e) => e.name));
  const extra = user.filter((e) => !baseNames.has(e.name)).map((e) => ({ name: e.name, value: e.value }));
  return [...base, ...extra];
}
