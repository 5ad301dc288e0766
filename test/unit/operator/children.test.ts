import { describe, expect, it } from 'vitest';
import { parsePair } from '../../../src/api/pair-parse.ts';
import { desiredAdminTokenSecret } from '../../../src/operator/admin-token-secret.ts';
import { desiredChildren } from '../../../src/operator/children.ts';
import { desiredPdb } from '../../../src/operator/pair-disruption-budget.ts';
import { desiredNetworkPolicy } from '../../../src/operator/pair-network-policy.ts';
import { pair } from './child-fixtures.ts';

describe('every child', () => {
  it('has a controller owner reference to the pair, the namespace and the pair label', () => {
    const p = pair({ server: { license: { secretName: 'l' }, storage: { size: '2Gi' } } });
    const c = desiredChildren(p, 'primary');
    const all = [
      c.pods.primary,
      c.pods.redundant,
      c.memberServices.primary,
      c.memberServices.redundant,
      c.clientService,
      c.pdb,
      c.pvcs!.primary,
      c.pvcs!.redundant,
      desiredAdminTokenSecret(p, 'x'),
      desiredNetworkPolicy(p, undefined)!,
    ];
    for (const o of all) {
      expect(o.metadata!.namespace).toBe('lic');
      expect(o.metadata!.labels!['lpo.dev/pair']).toBe('eda');
      expect(o.metadata!.ownerReferences).toEqual([
        {
          apiVersion: 'lpo.dev/v1alpha1',
          kind: 'LicenseServerPair',
          name: 'eda',
          uid: 'uid-1',
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
    }
  });
  it('refuses a pair without uid (owner references need it)', () => {
    const p = parsePair({ metadata: { name: 'eda' }, spec: { server: { license: { secretName: 'l' } } } });
    expect(() => desiredPdb(p)).toThrow(/uid/);
  });
});

describe('PDB and admin token Secret', () => {
  it('PDB allows one member down at a time', () => {
    const b = desiredPdb(pair());
    expect(b.apiVersion).toBe('policy/v1');
    expect(b.spec).toEqual({
      minAvailable: 1,
      selector: { matchLabels: { 'lpo.dev/pair': 'eda' } },
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    });
  });
  it('admin token Secret carries the given token', () => {
    const s = desiredAdminTokenSecret(pair(), 'sekrit');
    expect(s.metadata!.name).toBe('eda-admin-token');
    expect(s.stringData).toEqual({ token: 'sekrit' });
  });
});

describe('desiredChildren', () => {
  it('is pure: same input, same output; input not modified', () => {
    const p = pair({ placement: { affinity: { podAntiAffinity: {} } } });
    const copy = structuredClone(p);
    expect(desiredChildren(p, 'primary')).toEqual(desiredChildren(p, 'primary'));
    expect(p).toEqual(copy);
  });
  it('has both members', () => {
    const c = desiredChildren(pair(), 'primary');
    expect(Object.keys(c.pods)).toEqual(['primary', 'redundant']);
    expect(c.pods.redundant.metadata!.name).toBe('eda-redundant');
    expect(c.clientService.spec!.selector!['lpo.dev/member']).toBe('primary');
  });
});
