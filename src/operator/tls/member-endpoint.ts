// Where and how the operator calls a member's admin port: https with the member's identity to
// check when its pod was made to serve TLS (serves-tls.ts, LABEL_TLS), plain http otherwise; the
// members of a pair with provided certificates are verified with the user's CAs.
import type { SecureContext } from 'node:tls';
import type { LicenseServerPair, Member } from '../../api/pair.ts';
import { memberIdentity, parseIdentity, type Identity } from '../../tls/identity.ts';
import { podServesTls, usesProvidedCertificates } from '../serves-tls.ts';
import type { MemberCallTls } from '../member-wire.ts';
import type { OperatorCertificate } from './operator-certificate.ts';
import type { ProvidedCertificates } from './provided-certificates.ts';

/**
 * The operator's TLS context for calls to the members of `pair`: its client certificate, and the
 * CAs to verify the members with (the installation's, or with `spec.tls.mode: Provided` the CAs
 * of the user's Secrets).
 */
export type OperatorContext = (pair?: LicenseServerPair) => SecureContext | undefined;

type PodLabels = Parameters<typeof podServesTls>[0];

export function memberCallTls(
  pair: LicenseServerPair,
  member: Member,
  pod: PodLabels,
  context: OperatorContext | undefined,
): MemberCallTls | undefined {
  if (!podServesTls(pod) || !context) return undefined;
  const identity = parseIdentity(memberIdentity(`${pair.metadata.namespace}/${pair.metadata.name}`, member));
  return { context: () => context(pair), identity: identity as Identity & { kind: 'member' } };
}

/** The operator's contexts: the installation CA's for pairs it issues for, the user's CAs for `Provided` pairs. */
export function operatorContexts(
  certificate: Pick<OperatorCertificate, 'current' | 'currentTrusting'>,
  provided: Pick<ProvidedCertificates, 'trustedCa'> | undefined,
): OperatorContext {
  return (pair) => {
    if (!pair || !usesProvidedCertificates(pair)) return certificate.current();
    const cas = provided?.trustedCa(`${pair.metadata.namespace}/${pair.metadata.name}`);
    return cas ? certificate.currentTrusting(cas) : undefined;
  };
}

export function memberAdminBaseUrl(pair: LicenseServerPair, pod: PodLabels, podIP: string): string {
  const host = podIP.includes(':') ? `[${podIP}]` : podIP;
  return `${podServesTls(pod) ? 'https' : 'http'}://${host}:${pair.spec.server.ports.admin}`;
}
