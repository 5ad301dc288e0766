// CertificatesReady: whether the members have certificates the operator issued and keeps
// renewed, until when, or why not. Pure.
import type { LicenseServerPair } from '../../api/pair.ts';
import type { ConditionSpec } from '../conditions.ts';
import { servesTls } from '../children.ts';
import type { PairCertificateState } from './pair-certificates.ts';

export const CERTIFICATES_READY = 'CertificatesReady';

export function certificateCondition(
  pair: LicenseServerPair,
  state: PairCertificateState | undefined,
): ConditionSpec | undefined {
  if (pair.spec.server.protocol !== 'reference') return undefined;
  if (!servesTls(pair))
    return {
      type: CERTIFICATES_READY,
      status: 'False',
      reason: 'PlaintextOptOut',
      message:
        'spec.tls.mode is Disabled: licence, admin and replication traffic (leases, tokens) is plaintext on the pod network; set spec.tls.mode to Operator',
    };
  if (!state) return undefined;
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
