import type { V1OwnerReference } from '@kubernetes/client-node';
import {
  API_VERSION,
  KIND,
  LABEL_MEMBER,
  LABEL_PAIR,
  type LicenseServerPair,
  type Member,
} from '../api/pair.ts';

/** The controller owner reference to the pair (every child carries it). */
export function ownerReference(pair: LicenseServerPair): V1OwnerReference {
  if (!pair.metadata.uid)
    throw new Error(`pair ${pair.metadata.name} has no uid (read it from the API server)`);
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: pair.metadata.name,
    uid: pair.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Labels shared by all children of a pair. */
export function pairLabels(pair: LicenseServerPair): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'license-server',
    'app.kubernetes.io/instance': pair.metadata.name,
    'app.kubernetes.io/managed-by': 'license-pair-operator',
    [LABEL_PAIR]: pair.metadata.name,
  };
}

export function memberLabels(pair: LicenseServerPair, member: Member): Record<string, string> {
  return { ...pairLabels(pair), 'app.kubernetes.io/component': member, [LABEL_MEMBER]: member };
}

export function childMetadata(pair: LicenseServerPair, name: string, labels: Record<string, string>) {
  return { name, namespace: pair.metadata.namespace, labels, ownerReferences: [ownerReference(pair)] };
}
