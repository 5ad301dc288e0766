// CertificatesReady: whether the members have certificates that serve (issued and kept renewed
// by the operator, or provided by the user and checked), until when, or why not. Pure.
import type { LicenseServerPair } from '../../api/pair.ts';
import type { ConditionSpec } from '../conditions.ts';
import { servesTls } from '../serves-tls.ts';
import type { PairCertificateState } from './pair-certificates.ts';
import { CERTIFICATE_RETRY_MS, type ProvidedCertificateState } from './provided-certificates.ts';

export const CERTIFICATES_READY = 'CertificatesReady';

/** What the reconcile learnt about the members' certificates, in either mode. */
export type CertificateState = PairCertificateState | ProvidedCertificateState;

export function certificateCondition(
  pair: LicenseServerPair,
  state: CertificateState | undefined,
): ConditionSpec | undefined {
  if (pair.spec.server.protocol !== 'reference') return undefined;
  if (!servesTls(pair))
    return {
      type: CERTIFICATES_READY,
      status: 'False',
      reason: 'PlaintextOptOut',
      message:
        'spec.tls.mode is Disabled: licence, admin and replication traffic (leases, tokens) is plaintext on the pod network; set spec.tls.mode to Operator or Provided',
    };
  if (!state) return undefined;
  if ('mode' in state) return providedCondition(state);
  if (!state.ok)
    return {
      type: CERTIFICATES_READY,
      status: 'False',
      reason: 'IssueFailed',
      message: `the operator could not issue or renew the members' certificates: ${state.message}`,
    };
  const earliest = Math.min(state.expires.primary.getTime(), state.expires.redundant.getTime());
  return {
    type: CERTIFICATES_READY,
    status: 'True',
    reason: 'Issued',
    message: `member certificates valid until ${new Date(earliest).toISOString()}; renewed from ${state.renewAt.toISOString()}`,
  };
}

function providedCondition(state: ProvidedCertificateState): ConditionSpec {
  if (!state.ok)
    return {
      type: CERTIFICATES_READY,
      status: 'False',
      reason: state.reason,
      message: `${state.message}. Member pods are not created or replaced until it is fixed; running members keep what they have (checked again within ${CERTIFICATE_RETRY_MS / 1000} s)`,
    };
  const earliest = Math.min(state.expires.primary.getTime(), state.expires.redundant.getTime());
  if (state.overdue)
    return {
      type: CERTIFICATES_READY,
      status: 'True',
      reason: 'RenewalOverdue',
      message: `the ${state.overdue.member} member's certificate (Secret ${state.overdue.secret}) expires at ${state.overdue.notAfter.toISOString()} and is in the last sixth of its lifetime, past when cert-manager renews by default (two thirds); see kubectl describe certificate for why it was not renewed`,
    };
  return {
    type: CERTIFICATES_READY,
    status: 'True',
    reason: 'Provided',
    message: `the provided member certificates are valid until ${new Date(earliest).toISOString()} and hold the members' identities and names; their issuer renews them`,
  };
}
