import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mergePatch } from '../../../src/kube/merge-patch.ts';

/** RFC 7386 application, to check that the patch really turns `from` into `to`. */
function apply(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as object) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = apply(out[k], v);
  }
  return out;
}

describe('mergePatch', () => {
  it('removes keys that are gone (a stale healthReason must not stay in status)', () => {
    const from = {
      members: { primary: { health: 'Unhealthy', healthReason: 'ProbeFailed' } },
      phase: 'Degraded',
    };
    const to = { members: { primary: { health: 'Healthy' } }, phase: 'Running' };
    expect(mergePatch(from, to)).toEqual({
      members: { primary: { health: 'Healthy', healthReason: null } },
      phase: 'Running',
    });
  });

  it('is undefined when nothing changed', () => {
    expect(mergePatch({ a: 1, b: { c: [1, 2] } }, { a: 1, b: { c: [1, 2] } })).toBeUndefined();
  });

  it('replaces arrays whole', () => {
    expect(mergePatch({ c: [{ type: 'Ready' }] }, { c: [{ type: 'Ready' }, { type: 'Degraded' }] })).toEqual({
      c: [{ type: 'Ready' }, { type: 'Degraded' }],
    });
  });

  it('applied to `from`, always gives `to` (JSON values without nulls)', () => {
    const json = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.integer(),
        fc.string(),
        fc.boolean(),
        fc.array(tie('value'), { maxLength: 3 }),
        tie('object'),
      ),
      object: fc.dictionary(fc.string({ minLength: 1, maxLength: 3 }), tie('value'), { maxKeys: 4 }),
    }));
    fc.assert(
      fc.property(json.object, json.object, (from, to) => {
        const patch = mergePatch(from, to);
        expect(patch === undefined ? from : apply(from, patch)).toEqual(to);
      }),
      { numRuns: 500 },
    );
  });
});
