import { describe, expect, it } from 'vitest';
import { SpreadCycle } from '../../../src/kube/informer.ts';

const ticks = (c: SpreadCycle<string>, n: number) => Array.from({ length: n }, () => c.next());

describe('resync spread over the period', () => {
  it('hands out every entry once per period, a slice each tick, never all at once', () => {
    const map = new Map(Array.from({ length: 1000 }, (_, i) => [`k${i}`, `k${i}`]));
    const c = new SpreadCycle(map, 300_000, 1000);
    const slices = ticks(c, 300);
    expect(slices.flat()).toHaveLength(1000);
    expect(new Set(slices.flat()).size).toBe(1000);
    expect(Math.max(...slices.map((s) => s.length))).toBeLessThanOrEqual(4);
    // The next period starts over.
    expect(new Set(ticks(c, 300).flat()).size).toBe(1000);
  });

  it('reaches a small map once per period', () => {
    const map = new Map([['a', 'a']]);
    const c = new SpreadCycle(map, 10_000, 1000);
    const slices = ticks(c, 30);
    expect(slices.flat()).toEqual(['a', 'a', 'a']);
    expect(slices.findIndex((s) => s.length > 0)).toBe(9);
  });

  it('skips removed entries and reaches added ones', () => {
    const map = new Map([
      ['a', 'a'],
      ['b', 'b'],
      ['c', 'c'],
      ['d', 'd'],
    ]);
    const c = new SpreadCycle(map, 4000, 1000);
    expect(c.next()).toEqual(['a']);
    map.delete('b');
    map.set('e', 'e');
    const rest = ticks(c, 3).flat();
    expect(rest).not.toContain('b');
    expect(rest).toContain('e');
    expect(new SpreadCycle(new Map(), 1000, 1000).next()).toEqual([]);
  });
});
