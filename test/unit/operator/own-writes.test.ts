import { describe, expect, it } from 'vitest';
import { OwnStatusWrites } from '../../../src/operator/own-writes.ts';

const cached = { phase: 'Pending' as const };
const written = { phase: 'Unavailable' as const, conditions: [] };

describe('own status writes stand in for a cache that has not seen them', () => {
  it('the cached status when nothing was written', () => {
    expect(new OwnStatusWrites().current('ns/a', '10', cached)).toEqual(cached);
    expect(new OwnStatusWrites().current('ns/a', '10', undefined)).toEqual({});
  });

  it('the written status while the cache still shows the version the write was based on', () => {
    const w = new OwnStatusWrites();
    w.wrote('ns/a', '10', written);
    expect(w.current('ns/a', '10', cached)).toEqual(written);
    expect(w.current('ns/a', '10', cached)).toEqual(written);
  });

  it('the cached status once the cache has moved on, and the write is forgotten', () => {
    const w = new OwnStatusWrites();
    w.wrote('ns/a', '10', written);
    const later = { phase: 'Running' as const };
    expect(w.current('ns/a', '11', later)).toEqual(later);
    // Back at the old version (a relist that shows nothing newer cannot resurrect the write).
    expect(w.current('ns/a', '10', cached)).toEqual(cached);
  });

  it('keeps a copy: changing the object written later does not change what stands in', () => {
    const w = new OwnStatusWrites();
    const s: { phase: 'Unavailable'; message?: string } = { phase: 'Unavailable' };
    w.wrote('ns/a', '10', s);
    s.message = 'changed';
    expect(w.current('ns/a', '10', cached)).toEqual({ phase: 'Unavailable' });
  });

  it('pairs are apart, and a deleted pair is forgotten', () => {
    const w = new OwnStatusWrites();
    w.wrote('ns/a', '10', written);
    expect(w.current('ns/b', '10', cached)).toEqual(cached);
    w.forget('ns/a');
    expect(w.current('ns/a', '10', cached)).toEqual(cached);
  });
});
