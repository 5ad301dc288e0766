import { describe, expect, it } from 'vitest';
import {
  LicenceError,
  canonicalJson,
  generateIssuerKeys,
  parseAndVerify,
  signLicence,
  verifyLicence,
} from '../../../src/license-server/licence-file.ts';
import { PAIR_ID, feature, licenceBody } from './fixtures.ts';

const keys = generateIssuerKeys();
const NOW = Date.parse('2026-03-01T00:00:00Z');

function refusal(fn: () => unknown): LicenceError {
  try {
    fn();
  } catch (err) {
    if (err instanceof LicenceError) return err;
    throw err;
  }
  throw new Error('expected a LicenceError');
}

describe('licence file', () => {
  const signed = signLicence(
    licenceBody([
      feature('synth', 10, { reserved: [{ host: 'lab', seats: 2 }], maxPerUser: 2, lingerSeconds: 30 }),
    ]),
    keys.privateKeyPem,
  );
  const text = JSON.stringify(signed, null, 2);

  it('canonical JSON sorts keys at every level', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 1, c: 2 }], u: undefined })).toBe('{"a":[{"c":2,"d":1}],"b":1}');
  });

  it('signs and verifies, whatever the formatting and key order of the file', () => {
    const v = verifyLicence(text, keys.publicKeyPem, { pairId: PAIR_ID, now: NOW });
    expect(v.features[0]).toMatchObject({ name: 'synth', seats: 10, lingerMs: 30_000, maxPerUser: 2 });
    expect(v.summary).toBe('1 feature, expires 2099-12-31');
    const { signature, features, ...rest } = signed;
    const reordered = JSON.stringify({ signature, features, ...rest });
    expect(parseAndVerify(reordered, keys.publicKeyPem).issuedTo).toBe(PAIR_ID);
  });

  it('refuses a tampered file', () => {
    const tampered = text.replace('"seats": 10', '"seats": 1000');
    const e = refusal(() => verifyLicence(tampered, keys.publicKeyPem, { pairId: PAIR_ID, now: NOW }));
    expect(e.code).toBe('BAD_SIGNATURE');
    expect(e.message).toMatch(/^signature does not match the issuer key/);
    const extra = JSON.stringify({ ...signed, note: 'x' });
    expect(refusal(() => parseAndVerify(extra, keys.publicKeyPem)).code).toBe('BAD_SIGNATURE');
  });

  it('refuses a file signed by another issuer', () => {
    const other = generateIssuerKeys();
    expect(refusal(() => parseAndVerify(text, other.publicKeyPem)).code).toBe('BAD_SIGNATURE');
  });

  it('refuses a file issued to another pair', () => {
    const e = refusal(() => verifyLicence(text, keys.publicKeyPem, { pairId: 'licensing/other', now: NOW }));
    expect(e.code).toBe('WRONG_PAIR');
    expect(e.message).toBe('issued to licensing/eda-tools, this pair is licensing/other');
  });

  it('refuses a file whose features all expired, and names them', () => {
    const old = JSON.stringify(
      signLicence(licenceBody([feature('synth', 1, { expiry: '2025-06-30' })]), keys.privateKeyPem),
    );
    const e = refusal(() => verifyLicence(old, keys.publicKeyPem, { pairId: PAIR_ID, now: NOW }));
    expect(e.code).toBe('EXPIRED');
    expect(e.message).toBe('feature synth expired on 2025-06-30');
  });

  it('keeps the usable features of a file and warns about expired ones', () => {
    const mixed = JSON.stringify(
      signLicence(
        licenceBody([feature('synth', 1, { expiry: '2025-06-30' }), feature('sim', 2)]),
        keys.privateKeyPem,
      ),
    );
    const v = verifyLicence(mixed, keys.publicKeyPem, { pairId: PAIR_ID, now: NOW });
    expect(v.warnings).toEqual(['feature synth expired on 2025-06-30']);
  });

  it('names the usable feature that expires first (an expired one does not count)', () => {
    const three = JSON.stringify(
      signLicence(
        licenceBody([
          feature('old', 1, { expiry: '2025-06-30' }),
          feature('late', 1, { expiry: '2028-01-01' }),
          feature('soon', 1, { expiry: '2026-03-10' }),
        ]),
        keys.privateKeyPem,
      ),
    );
    const v = verifyLicence(three, keys.publicKeyPem, { pairId: PAIR_ID, now: NOW });
    expect(v.firstExpiry).toEqual({ feature: 'soon', ms: Date.parse('2026-03-10') });
    expect(v.expiresMs).toBe(Date.parse('2028-01-01'));
  });

  it('refuses malformed files with the field at fault', () => {
    expect(refusal(() => parseAndVerify('{', keys.publicKeyPem)).message).toMatch(/not JSON/);
    expect(refusal(() => parseAndVerify('{"format":2}', keys.publicKeyPem)).code).toBe('MALFORMED');
    const e = refusal(() =>
      signLicence(
        licenceBody([feature('synth', 2, { reserved: [{ host: 'a', seats: 3 }] })]),
        keys.privateKeyPem,
      ),
    );
    expect(e.message).toMatch(/reserves 3 seats but has only 2/);
    expect(refusal(() => signLicence(licenceBody([]), keys.privateKeyPem)).message).toMatch(/features/);
  });

  it('refuses a key of the wrong type', () => {
    expect(refusal(() => parseAndVerify(text, 'not a key')).code).toBe('BAD_KEY');
  });
});
