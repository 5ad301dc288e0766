import { describe, expect, it } from 'vitest';
import { renewalTime, shouldRenew } from '../../../src/tls/renewal.ts';

const at = (iso: string) => new Date(iso);

describe('when to renew', () => {
  const cert = { notBefore: at('2030-01-01T00:00:00Z'), notAfter: at('2030-01-31T00:00:00Z') }; // 30 days

  it('at two thirds of the lifetime by default', () => {
    expect(renewalTime(cert).toISOString()).toBe('2030-01-21T00:00:00.000Z');
    expect(shouldRenew(cert, at('2030-01-20T23:59:59Z'))).toBe(false);
    expect(shouldRenew(cert, at('2030-01-21T00:00:00Z'))).toBe(true);
  });

  it('an expired certificate is due; one not valid yet is not (a new one would be no better)', () => {
    expect(shouldRenew(cert, at('2031-01-01T00:00:00Z'))).toBe(true);
    expect(shouldRenew(cert, at('2029-12-31T00:00:00Z'))).toBe(false);
  });

  it('another fraction can be asked for, within (0, 1]', () => {
    expect(renewalTime(cert, 0.5).toISOString()).toBe('2030-01-16T00:00:00.000Z');
    expect(shouldRenew(cert, at('2030-01-30T00:00:00Z'), 1)).toBe(false);
    expect(() => renewalTime(cert, 0)).toThrow();
    expect(() => renewalTime(cert, 1.5)).toThrow();
  });
});
