// Property-based fuzzing of the licence-file parser: arbitrary bytes, JSON mutations of a signed
// file and changes to signed fields. The parser either accepts a file whose signed content is
// exactly what the issuer signed, or refuses it with a LicenceError (a code and a message a person
// can act on); it never throws anything else.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  LICENCE_ERROR_CODES,
  LicenceError,
  canonicalJson,
  generateIssuerKeys,
  signLicence,
  verifyLicence,
} from '../../../src/license-server/licence-file.ts';
import type { LicenceFile, VerifiedLicence } from '../../../src/license-server/licence-file.ts';
import { PAIR_ID, feature, licenceBody } from './fixtures.ts';

const keys = generateIssuerKeys();
const NOW = Date.parse('2026-03-01T00:00:00Z');
const signed = signLicence(
  licenceBody([
    feature('synth', 10, { reserved: [{ host: 'lab', seats: 2 }], maxPerUser: 2, lingerSeconds: 30 }),
    feature('sim', 3, { exclude: { users: ['mallory'] } }),
  ]),
  keys.privateKeyPem,
);
const text = JSON.stringify(signed, null, 2);
const { signature: _sig, ...signedBody } = signed;
const SIGNED = canonicalJson(signedBody);

/** Accepted, or refused with a LicenceError; anything else fails the property. */
function outcome(
  file: string,
  key = keys.publicKeyPem,
): { ok: true; v: VerifiedLicence } | { ok: false; e: LicenceError } {
  try {
    return { ok: true, v: verifyLicence(file, key, { pairId: PAIR_ID, now: NOW }) };
  } catch (err) {
    if (!(err instanceof LicenceError)) throw new Error(`not a LicenceError: ${String(err)}`, { cause: err });
    expect(LICENCE_ERROR_CODES).toContain(err.code);
    expect(err.message.length).toBeGreaterThan(0);
    return { ok: false, e: err };
  }
}

/** What a file says, as the signature would cover it (undefined: not a JSON object). */
function signedContent(file: string): string | undefined {
  try {
    const raw = JSON.parse(file) as unknown;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
    const { signature: _s, ...body } = raw as Record<string, unknown>;
    return canonicalJson(body);
  } catch {
    return undefined;
  }
}

// ----------------------------------------------------------------------------- mutations

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
const junk: fc.Arbitrary<Json> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
  fc.constantFrom<Json>(0, -1, 1.5, 1e308, 2 ** 53 + 1, '', '2099-12-31', 'NaN', true, null, [], {}),
);

/** Every path in a JSON value. */
function paths(v: Json, at: (string | number)[] = []): (string | number)[][] {
  const out = [at];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...at, i])));
  else if (v !== null && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...at, k]));
  return out;
}

type Mutation =
  | { kind: 'set'; pick: number; value: Json }
  | { kind: 'delete'; pick: number }
  | { kind: 'add'; pick: number; key: string; value: Json }
  | { kind: 'duplicate'; pick: number }
  | { kind: 'number'; pick: number; delta: number };

// which value to change: the whole document (0) often, else any
const pick = fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 4, arbitrary: fc.nat() });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), pick, value: junk }),
  fc.record({ kind: fc.constant('delete' as const), pick }),
  fc.record({
    kind: fc.constant('add' as const),
    pick,
    key: fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.constantFrom('__proto__', 'constructor', 'prototype', 'signature', 'seats', 'features'),
    ),
    value: junk,
  }),
  fc.record({ kind: fc.constant('duplicate' as const), pick }),
  fc.record({ kind: fc.constant('number' as const), pick, delta: fc.integer({ min: -3, max: 3 }) }),
);

/** Apply a mutation to a deep copy; object keys are set as own properties (as JSON.parse does). */
function mutate(doc: Json, m: Mutation): Json {
  // the document sits under a root, so that it can be changed like any other value
  const root = { doc: JSON.parse(JSON.stringify(doc)) as Json };
  const all = paths(root.doc, ['doc']);
  const p = all[m.pick % all.length] as (string | number)[];
  let parent = root as unknown as Record<string | number, Json>;
  for (const k of p.slice(0, -1)) parent = parent[k] as Record<string | number, Json>;
  const last = p[p.length - 1] as string | number;
  const define = (o: object, k: string | number, v: Json): void => {
    Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  };
  const target = parent[last] as Json;
  switch (m.kind) {
    case 'set':
      define(parent, last, m.value);
      break;
    case 'delete':
      if (Array.isArray(parent)) parent.splice(last as number, 1);
      else if (parent === (root as unknown)) break;
      else delete parent[last];
      break;
    case 'add':
      if (Array.isArray(target)) target.push(m.value);
      else if (target !== null && typeof target === 'object') define(target, m.key, m.value);
      else define(parent, last, { [m.key]: m.value });
      break;
    case 'duplicate':
      if (Array.isArray(parent)) parent.splice(last as number, 0, JSON.parse(JSON.stringify(target)) as Json);
      else define(parent, last, [target]);
      break;
    case 'number':
      if (typeof target === 'number') define(parent, last, target + m.delta);
      else if (typeof target === 'string') define(parent, last, `${target}${m.delta}`);
      break;
  }
  return root.doc;
}

describe('fuzzing the licence-file parser', () => {
  it('the signed file itself is accepted (the base of every mutation)', () => {
    const r = outcome(text);
    expect(r.ok).toBe(true);
  });

  it('arbitrary bytes are refused with a LicenceError', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 2000 }).map((a) => Buffer.from(a).toString('utf8')),
          fc.string({ maxLength: 500 }),
          fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
        ),
        (file) => {
          expect(outcome(file).ok).toBe(false);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('a JSON mutation of a signed file is accepted only when what was signed is unchanged', () => {
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.boolean(), (ms, pretty) => {
        let doc = signed as unknown as Json;
        for (const m of ms) doc = mutate(doc, m);
        const file = JSON.stringify(doc, null, pretty ? 2 : undefined);
        const r = outcome(file);
        const same = signedContent(file) === SIGNED;
        if (r.ok) {
          expect(same, `accepted a changed file: ${file}`).toBe(true);
          expect(canonicalJson(r.v.licence.features)).toBe(canonicalJson(signed.features));
        } else if (same) {
          // only the signature itself was touched
          expect(r.e.code, file).toMatch(/^(BAD_SIGNATURE|MALFORMED)$/);
        } else {
          expect(r.e.code, file).toMatch(/^(BAD_SIGNATURE|MALFORMED)$/);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('byte-level damage to a signed file is refused unless it only touched the layout', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            at: fc.nat(),
            op: fc.constantFrom('flip', 'insert', 'delete'),
            byte: fc.integer({ min: 0, max: 255 }),
          }),
          { minLength: 1, maxLength: 5 },
        ),
        (edits) => {
          const b = [...Buffer.from(text)];
          for (const e of edits) {
            const i = e.at % (b.length + 1);
            if (e.op === 'insert') b.splice(i, 0, e.byte);
            else if (e.op === 'delete') b.splice(i, 1);
            else if (i < b.length) b[i] = (b[i] as number) ^ (e.byte || 1);
          }
          const file = Buffer.from(b).toString('utf8');
          const r = outcome(file);
          if (r.ok) expect(signedContent(file), `accepted a changed file: ${file}`).toBe(SIGNED);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('any change to a signed field is refused as BAD_SIGNATURE, whatever it is changed to', () => {
    const field = fc.oneof(
      fc.record({
        f: fc.constantFrom('issuedTo', 'issuer', 'issued'),
        v: fc.string({ minLength: 1, maxLength: 40 }),
      }),
      fc.record({
        f: fc.constantFrom('seats', 'maxPerUser', 'lingerSeconds'),
        v: fc.integer({ min: 0, max: 1_000_000 }),
      }),
      fc.record({
        f: fc.constantFrom('start', 'expiry'),
        v: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      }),
      fc.record({ f: fc.constant('reserved'), v: fc.nat(10) }),
      fc.record({ f: fc.constant('exclude'), v: fc.string({ minLength: 1, maxLength: 10 }) }),
      fc.record({ f: fc.constant('extraFeature'), v: fc.integer({ min: 1, max: 100 }) }),
    );
    fc.assert(
      fc.property(field, (c) => {
        const f = JSON.parse(text) as LicenceFile;
        const synth = f.features[0] as LicenceFile['features'][number];
        if (c.f === 'issuedTo' || c.f === 'issuer' || c.f === 'issued') f[c.f] = String(c.v);
        else if (c.f === 'seats' || c.f === 'maxPerUser' || c.f === 'lingerSeconds') synth[c.f] = Number(c.v);
        else if (c.f === 'start' || c.f === 'expiry') synth[c.f] = String(c.v);
        else if (c.f === 'reserved') synth.reserved = [{ host: 'lab', seats: Number(c.v) }];
        else if (c.f === 'exclude') synth.exclude = { users: [String(c.v)] };
        else f.features.push(feature('extra', Number(c.v)));
        fc.pre(signedContent(JSON.stringify(f)) !== SIGNED);
        const r = outcome(JSON.stringify(f));
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.e.code).toBe('BAD_SIGNATURE');
      }),
      { numRuns: 1000 },
    );
  });

  it('a "__proto__" key added anywhere is a change like any other', () => {
    for (const inject of ['"__proto__":{"seats":99},', '"__proto__":null,', '"constructor":{},']) {
      const top = `{${inject}${JSON.stringify(signed).slice(1)}`;
      const inFeature = JSON.stringify(signed).replace('"name":"synth"', `${inject}"name":"synth"`);
      for (const file of [top, inFeature]) {
        const r = outcome(file);
        expect(r.ok, file).toBe(false);
        if (!r.ok) expect(r.e.code).toBe('BAD_SIGNATURE');
      }
    }
  });

  it('a file nested beyond reason is refused, not a stack overflow', () => {
    const deep = (n: number): string => `${'['.repeat(n)}${']'.repeat(n)}`;
    for (const n of [1000, 100_000]) {
      const file = `{"format":1,"issuedTo":"${PAIR_ID}","issuer":"x","issued":"2025-01-01","features":[],"x":${deep(n)},"signature":"${signed.signature}"}`;
      const r = outcome(file);
      expect(r.ok).toBe(false);
    }
  });

  it('a public key that is not an Ed25519 PEM key is refused as BAD_KEY', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 300 }),
          fc
            .uint8Array({ minLength: 1, maxLength: 200 })
            .map(
              (a) =>
                `-----BEGIN PUBLIC KEY-----\n${Buffer.from(a).toString('base64')}\n-----END PUBLIC KEY-----\n`,
            ),
        ),
        (key) => {
          const r = outcome(text, key);
          expect(r.ok).toBe(false);
          if (!r.ok) expect(r.e.code).toBe('BAD_KEY');
        },
      ),
      { numRuns: 300 },
    );
  });
});
