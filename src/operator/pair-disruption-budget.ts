import type { V1PodDisruptionBudget } from '@kubernetes/client-node';
import { LABEL_PAIR, type LicenseServerPair } from '../api/pair.ts';
import { childMetadata, pairLabels } from './child-metadata.ts';
import { childNames } from './child-names.ts';

/**
 * At most one member voluntarily disrupted (drained, evicted) at a time. minAvailable, not
 * maxUnavailable: for maxUnavailable the disruption controller needs the pods' controller to have
 * a scale subresource (a LicenseServerPair has none); without it the budget's status is never
 * computed, it allows no eviction at all, and every node drain waits for ever.
 */
export function desiredPdb(pair: LicenseServerPair): V1PodDisruptionBudget {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: childMetadata(pair, childNames(pair.metadata.name).pdb, pairLabels(pair)),
    spec: {
      minAvailable: 1,
      selector: { matchLabels: { [LABEL_PAIR]: pair.metadata.name } },
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    },
  };
}
