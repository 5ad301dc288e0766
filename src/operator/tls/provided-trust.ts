// The CA bundles of a pair whose members have certificates the user provides
// (`spec.tls.mode: Provided`). Pure: PEM text in, PEM text and objects out.
//
// - The members' bundle (the trust ConfigMap `<pair>-member-trust`, key ca.crt, mounted with the
//   user's tls.crt/tls.key in one projected volume): the user's CAs, to verify the peer, and the
//   installation CA bundle, to verify the operator's client certificate.
// - The clients' bundle (`<pair>-ca`): the user's CAs alone, the ones that issued the members'
//   serving certificates.
import { X509Certificate } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import type { LicenseServerPair } from '../../api/pair.ts';
import { certificateBlocks } from '../../tls/pem.ts';
import { pairLabels } from '../child-metadata.ts';
import { childNames } from '../child-names.ts';
import { bundleConfigMap } from './pair-certificates.ts';

/** The certificates of `bundles`, each once (by SHA-256 fingerprint), in order; unparsable blocks are left out. */
export function unionBundle(...bundles: readonly string[]): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const pem of bundles.flatMap((b) => certificateBlocks(b))) {
    const fingerprint = fingerprintOf(pem);
    if (fingerprint === undefined || seen.has(fingerprint)) continue;
    seen.add(fingerprint);
    out.push(pem);
  }
  return out.join('');
}

/**
 * How long a user CA stays trusted after the last Secret stopped holding it. The kubelet updates
 * each pod's mounts on its own schedule (about a minute, more on a busy node), so a member can
 * still present a certificate of the old CA, or a client still verify with the old bundle, well
 * after the Secrets moved on; an hour covers that with room, and is short next to any CA's life.
 */
export const PROVIDED_CA_OVERLAP_MS = 60 * 60_000;

/** A user CA no Secret holds any more, still trusted until `until` (operator clock, ms). */
export interface RetiredCa {
  pem: string;
  until: number;
}

/** The user CAs to trust now, and those kept only for the overlap. */
export interface UserCaSet {
  /** PEM: the CAs of the Secrets, then the retired ones still in their overlap */
  cas: string;
  retired: RetiredCa[];
}

/**
 * The user CAs to trust after a read of the Secrets: what they hold now (`current`), and each CA
 * trusted before (`previous`) that they no longer hold, for PROVIDED_CA_OVERLAP_MS after it was
 * first missed and never past its own notAfter. A CA that comes back is current again; one that
 * does not parse is left out. Pure: the caller keeps the result and passes it back as `previous`.
 */
export function trustedUserCas(
  current: string,
  previous: UserCaSet | undefined,
  now: number,
  overlapMs = PROVIDED_CA_OVERLAP_MS,
): UserCaSet {
  const currentCas = unionBundle(current);
  const held = new Set(fingerprints(currentCas));
  const retired = new Map<string, RetiredCa>();
  const keep = (pem: string, until: number) => {
    const fp = fingerprintOf(pem);
    if (!fp || held.has(fp) || retired.has(fp)) return;
    const end = Math.min(until, Date.parse(new X509Certificate(pem).validTo));
    if (end > now) retired.set(fp, { pem, until: end });
  };
  // A retired CA keeps its first deadline; only a CA that was current is newly missed.
  const wasRetired = new Set((previous?.retired ?? []).flatMap((r) => fingerprintOf(r.pem) ?? []));
  for (const r of previous?.retired ?? []) keep(r.pem, r.until);
  for (const pem of certificateBlocks(previous?.cas ?? ''))
    if (!wasRetired.has(fingerprintOf(pem) ?? '')) keep(pem, now + overlapMs);
  const kept = [...retired.values()];
  return { cas: unionBundle(currentCas, ...kept.map((r) => r.pem)), retired: kept };
}

function fingerprintOf(pem: string): string | undefined {
  try {
    return new X509Certificate(pem).fingerprint256;
  } catch {
    return undefined;
  }
}

function fingerprints(bundle: string): string[] {
  return certificateBlocks(bundle).flatMap((pem) => fingerprintOf(pem) ?? []);
}

/** What each member trusts: the user's CAs (its peer) and the installation's (the operator). */
export function memberTrustBundle(userCas: readonly string[], installationBundle: string): string {
  return unionBundle(...userCas, installationBundle);
}

/** The members' trust ConfigMap, owned by the pair. */
export function trustConfigMap(pair: LicenseServerPair, bundle: string): k8s.V1ConfigMap {
  return bundleConfigMap(
    pair,
    childNames(pair.metadata.name).trustConfigMap,
    { ...pairLabels(pair), 'app.kubernetes.io/component': 'tls-trust' },
    bundle,
  );
}
