import { describe, expect, it } from 'vitest';
import { ANNOTATION_SPEC_HASH } from '../../../src/api/pair.ts';
import { desiredPod } from '../../../src/operator/member-pod-spec.ts';
import { specHash } from '../../../src/operator/spec-hash.ts';
import { stableStringify } from '../../../src/operator/stable-stringify.ts';
import { pair } from './child-fixtures.ts';

describe('spec hash', () => {
  it('is on every pod and reproducible', () => {
    const a = desiredPod(pair(), 'primary');
    const h = a.metadata!.annotations![ANNOTATION_SPEC_HASH]!;
    expect(h).toMatch(/^[0-9a-f]{16}$/);
    expect(desiredPod(pair(), 'primary').metadata!.annotations![ANNOTATION_SPEC_HASH]).toBe(h);
    expect(specHash(a)).toBe(h);
  });
  it('differs between members and changes with the spec', () => {
    const h = (p: ReturnType<typeof pair>, m: 'primary' | 'redundant' = 'primary') =>
      desiredPod(p, m).metadata!.annotations![ANNOTATION_SPEC_HASH];
    const base = h(pair());
    expect(h(pair(), 'redundant')).not.toBe(base);
    expect(h(pair({ server: { license: { secretName: 'eda-license' }, image: 'x:2' } }))).not.toBe(base);
    expect(h(pair({ healthCheck: { periodSeconds: 5, timeoutSeconds: 2 } }))).not.toBe(base);
  });
  it('ignores fields that do not change the pod (failover policy, service, preferred member)', () => {
    const h = (p: ReturnType<typeof pair>) =>
      desiredPod(p, 'primary').metadata!.annotations![ANNOTATION_SPEC_HASH];
    const base = h(pair());
    expect(h(pair({ failover: { failback: 'Manual' } }))).toBe(base);
    expect(h(pair({ service: { type: 'NodePort' } }))).toBe(base);
    expect(h(pair({ preferredMember: 'redundant' }))).toBe(base);
  });
  it('does not depend on key order or on the hash annotation or the role label', () => {
    expect(stableStringify({ b: 1, a: [{ d: 2, c: undefined }] })).toBe('{"a":[{"d":2}],"b":1}');
    const pod = desiredPod(pair(), 'primary');
    const h = specHash(pod);
    const relabelled = structuredClone(pod);
    relabelled.metadata!.annotations = { other: 'x' };
    relabelled.metadata!.labels!['lpo.dev/role'] = 'live';
    delete relabelled.metadata!.labels!['lpo.dev/role'];
    expect(specHash(relabelled)).toBe(h);
  });
});
