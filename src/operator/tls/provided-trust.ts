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
    let fingerprint: string;
    try {
      fingerprint = new X509Certificate(pem).fingerprint256;
    } catch {
      continue;
    }
    if (seen.has(fingerprint)) continue;
    seen.add(fingerprint);
    out.push(pem);
  }
  return out.join('');
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
