import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import type { LicenseServerPair, Member } from '../api/pair.ts';
import { childMetadata, memberLabels } from './child-metadata.ts';
import { childNames } from './child-names.ts';

/** The member's state claim when spec.server.storage is set. */
export function desiredPvc(pair: LicenseServerPair, member: Member): V1PersistentVolumeClaim | undefined {
  const st = pair.spec.server.storage;
  if (!st) return undefined;
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: childMetadata(pair, childNames(pair.metadata.name).pvc[member], memberLabels(pair, member)),
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: st.size } },
      ...(st.storageClassName !== undefined ? { storageClassName: st.storageClassName } : {}),
    },
  };
}
