import type { V1Secret } from '@kubernetes/client-node';
import type { LicenseServerPair } from '../api/pair.ts';
import { childMetadata, pairLabels } from './child-metadata.ts';
import { childNames } from './child-names.ts';

export const ADMIN_TOKEN_KEY = 'token';

/**
 * The admin-token Secret, to create only when it does not exist (never overwrite: that would rotate
 * the token). The token comes from the caller (randomness is I/O).
 */
export function desiredAdminTokenSecret(pair: LicenseServerPair, token: string): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: childMetadata(pair, childNames(pair.metadata.name).adminTokenSecret, pairLabels(pair)),
    type: 'Opaque',
    stringData: { [ADMIN_TOKEN_KEY]: token },
  };
}
