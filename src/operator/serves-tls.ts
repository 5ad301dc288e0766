import type { LicenseServerPair } from '../api/pair.ts';

/**
 * On a member pod that serves TLS: the operator calls each member the way its pod was made, so a
 * pair whose pods predate TLS (an operator upgrade) or a rollout between modes is not taken for
 * failed because its members answer plaintext.
 */
export const LABEL_TLS = 'lpo.dev/tls';

/** Whether this member pod was made to serve TLS (LABEL_TLS). */
export function podServesTls(pod: { metadata?: { labels?: Record<string, string> } } | undefined): boolean {
  return pod?.metadata?.labels?.[LABEL_TLS] === 'true';
}

/**
 * Whether the members serve TLS, with certificates the operator issues (`Operator`) or that the
 * user provides (`Provided`): the licence and admin ports (the metrics port stays plaintext), for
 * the reference server only (another server's TLS is its own business).
 */
export function servesTls(pair: LicenseServerPair): boolean {
  return pair.spec.tls.mode !== 'Disabled' && pair.spec.server.protocol === 'reference';
}

/** Whether the members' certificates come from Secrets the user names (`spec.tls.mode: Provided`). */
export function usesProvidedCertificates(pair: LicenseServerPair): boolean {
  return servesTls(pair) && pair.spec.tls.mode === 'Provided';
}

/** HTTPS on the ports that serve TLS; the kubelet does not verify the certificate (and needs none). */
export function portScheme(pair: LicenseServerPair, port: string | number): 'HTTP' | 'HTTPS' {
  const ports = pair.spec.server.ports;
  const tlsPort = port === 'licences' || port === 'admin' || port === ports.licences || port === ports.admin;
  return servesTls(pair) && tlsPort ? 'HTTPS' : 'HTTP';
}
