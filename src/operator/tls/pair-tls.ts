// Which certificate path a pair takes (spec.tls.mode), and what a broken provided Secret holds
// back: the reconciler asks here instead of knowing the modes.
import type { LicenseServerPair } from '../../api/pair.ts';
import { servesTls, usesProvidedCertificates } from '../serves-tls.ts';
import type { CertificateState } from './certificate-condition.ts';
import type { PairCertificates } from './pair-certificates.ts';
import type { ProvidedCertificates } from './provided-certificates.ts';

export interface PairTlsPaths {
  /** certificates the operator issues (`Operator`) */
  pairs: PairCertificates;
  /** certificates the user provides (`Provided`) */
  provided?: ProvidedCertificates | undefined;
}

/** The members' certificates of `pair`, seen to by its mode's path; undefined when it serves no TLS. */
export function ensureCertificates(
  paths: PairTlsPaths | undefined,
  pair: LicenseServerPair,
): Promise<CertificateState> | undefined {
  if (!paths || !servesTls(pair)) return undefined;
  if (usesProvidedCertificates(pair)) return paths.provided?.ensure(pair);
  return paths.pairs.ensure(pair);
}

/**
 * Whether member pods may be created or replaced: not onto provided Secrets that cannot serve (a
 * pod would not start, or would be refused by its peer); a running member keeps its pod.
 */
export function podsMayChange(pair: LicenseServerPair, state: CertificateState | undefined): boolean {
  if (!usesProvidedCertificates(pair)) return true;
  return state?.ok === true;
}

/** Runs `create` once the certificates allow new pods (the certificate read is awaited only in Provided mode). */
export async function whenPodsMayChange(
  pair: LicenseServerPair,
  state: Promise<CertificateState> | undefined,
  create: () => Promise<void>,
): Promise<void> {
  if (!usesProvidedCertificates(pair)) return create();
  if (podsMayChange(pair, await state)) return create();
}

/** Forgets what was kept for a deleted pair. */
export function forgetCertificates(paths: PairTlsPaths | undefined, key: string): void {
  paths?.pairs.forget(key);
  paths?.provided?.forget(key);
}
