import { describe, expect, it } from 'vitest';
import { childNames } from '../../../src/operator/child-names.ts';

describe('names', () => {
  it('follows the design', () => {
    expect(childNames('eda')).toEqual({
      pod: { primary: 'eda-primary', redundant: 'eda-redundant' },
      memberService: { primary: 'eda-primary', redundant: 'eda-redundant' },
      clientService: 'eda',
      pdb: 'eda',
      networkPolicy: 'eda',
      adminTokenSecret: 'eda-admin-token',
      pvc: { primary: 'eda-primary-state', redundant: 'eda-redundant-state' },
      tlsSecret: { primary: 'eda-primary-tls', redundant: 'eda-redundant-tls' },
      trustConfigMap: 'eda-member-trust',
      caConfigMap: 'eda-ca',
    });
  });
});
