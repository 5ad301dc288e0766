import { describe, expect, it } from 'vitest';
import {
  conditionsEqual,
  findCondition,
  isConditionTrue,
  removeCondition,
  setCondition,
  setConditions,
} from '../../../src/operator/conditions.ts';

const t1 = new Date('2026-01-01T00:00:00.123Z');
const t2 = new Date('2026-01-01T00:01:00Z');

describe('conditions', () => {
  it('adds a new condition with a transition time (seconds precision) and generation', () => {
    const l = setCondition(undefined, { type: 'Ready', status: 'True', reason: 'Ok', message: 'm' }, t1, 3);
    expect(l).toEqual([
      {
        type: 'Ready',
        status: 'True',
        reason: 'Ok',
        message: 'm',
        lastTransitionTime: '2026-01-01T00:00:00Z',
        observedGeneration: 3,
      },
    ]);
  });
  it('keeps lastTransitionTime when the status does not change', () => {
    const l1 = setCondition([], { type: 'Ready', status: 'True', reason: 'A', message: '' }, t1);
    const l2 = setCondition(l1, { type: 'Ready', status: 'True', reason: 'B', message: 'x' }, t2, 4);
    expect(l2[0]).toMatchObject({
      reason: 'B',
      message: 'x',
      lastTransitionTime: '2026-01-01T00:00:00Z',
      observedGeneration: 4,
    });
    const l3 = setCondition(l2, { type: 'Ready', status: 'False', reason: 'C', message: '' }, t2);
    expect(l3[0]!.lastTransitionTime).toBe('2026-01-01T00:01:00Z');
  });
  it('does not modify its input, keeps order, appends new types', () => {
    const l1 = setConditions(
      [],
      [
        { type: 'Ready', status: 'True', reason: 'A', message: '' },
        { type: 'Degraded', status: 'False', reason: 'B', message: '' },
      ],
      t1,
    );
    const copy = structuredClone(l1);
    const l2 = setConditions(l1, [{ type: 'StandbyReady', status: 'Unknown', reason: 'C', message: '' }], t2);
    expect(l1).toEqual(copy);
    expect(l2.map((c) => c.type)).toEqual(['Ready', 'Degraded', 'StandbyReady']);
    expect(findCondition(l2, 'Degraded')?.reason).toBe('B');
    expect(isConditionTrue(l2, 'Ready')).toBe(true);
    expect(isConditionTrue(l2, 'StandbyReady')).toBe(false);
    expect(isConditionTrue(undefined, 'Ready')).toBe(false);
    expect(removeCondition(l2, 'Ready').map((c) => c.type)).toEqual(['Degraded', 'StandbyReady']);
  });
  it('conditionsEqual tells whether a status write is needed', () => {
    const spec = { type: 'Ready', status: 'True' as const, reason: 'A', message: 'm' };
    const l = setCondition([], spec, t1, 2);
    expect(conditionsEqual(l, [spec], 2)).toBe(true);
    expect(conditionsEqual(l, [spec])).toBe(true);
    expect(conditionsEqual(l, [spec], 3)).toBe(false);
    expect(conditionsEqual(l, [{ ...spec, message: 'n' }])).toBe(false);
    expect(conditionsEqual(l, [{ ...spec, type: 'Degraded' }])).toBe(false);
  });
});
