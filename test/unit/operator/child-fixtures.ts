import { parsePair } from '../../../src/api/pair-parse.ts';
import type { LicenseServerPairInput } from '../../../src/api/pair.ts';

export function pair(spec: Partial<LicenseServerPairInput['spec']> = {}) {
  return parsePair({
    metadata: { name: 'eda', namespace: 'lic', uid: 'uid-1', generation: 1 },
    spec: { server: { license: { secretName: 'eda-license' } }, ...spec },
  });
}
