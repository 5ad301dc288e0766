// The signed licence file: format, canonical serialisation, Ed25519 signing and verification.
// Pure apart from node:crypto; reading files and reloading live in licence-watcher.ts.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import type { FeatureConfig } from './ledger.ts';

const isoDate = z
  .string()
  .refine((s) => !Number.isNaN(Date.parse(s)), { message: 'must be an ISO 8601 date, e.g. 2027-06-30' });
const name = z.string().min(1).max(200);

export const featureSchema = z
  .object({
    name: z
      .string()
      .min(1)
      .max(100)
      .regex(/^[A-Za-z0-9_.-]+$/, 'feature names use letters, digits, "_", "." and "-"'),
    seats: z.number().int().positive().max(1_000_000_000),
    start: isoDate,
    expiry: isoDate,
    reserved: z.array(z.object({ host: name, seats: z.number().int().positive() }).strict()).optional(),
    maxPerUser: z.number().int().positive().optional(),
    maxPerHost: z.number().int().positive().optional(),
    exclude: z
      .object({ users: z.array(name).optional(), hosts: z.array(name).optional() })
      .strict()
      .optional(),
    lingerSeconds: z.number().int().min(0).max(86_400).optional(),
  })
  .strict()
  .superRefine((f, ctx) => {
    const reserved = (f.reserved ?? []).reduce((s, r) => s + r.seats, 0);
    if (reserved > f.seats)
      ctx.addIssue({ code: 'custom', message: `reserves ${reserved} seats but has only ${f.seats}` });
    if (Date.parse(f.expiry) <= Date.parse(f.start))
      ctx.addIssue({ code: 'custom', message: 'expiry must be after start' });
  });

export const licenceBodySchema = z
  .object({
    format: z.literal(1),
    issuedTo: z.string().min(1).max(253),
    issuer: z.string().min(1).max(200),
    issued: isoDate,
    features: z.array(featureSchema).min(1).max(1000),
  })
  .strict()
  .superRefine((l, ctx) => {
    const seen = new Set<string>();
    for (const f of l.features) {
      if (seen.has(f.name)) ctx.addIssue({ code: 'custom', message: `feature ${f.name} appears twice` });
      seen.add(f.name);
    }
  });

export const licenceFileSchema = z
  .object({
    format: z.literal(1),
    issuedTo: z.string(),
    issuer: z.string(),
    issued: z.string(),
    features: z.array(z.unknown()),
    signature: z.string().min(1),
  })
  .loose();

export type LicenceBody = z.infer<typeof licenceBodySchema>;
export type LicenceFile = LicenceBody & { signature: string };
export type Feature = z.infer<typeof featureSchema>;

export const LICENCE_ERROR_CODES = [
  'UNREADABLE',
  'MALFORMED',
  'BAD_SIGNATURE',
  'WRONG_PAIR',
  'NOT_YET_VALID',
  'EXPIRED',
  'BAD_KEY',
] as const;
export type LicenceErrorCode = (typeof LICENCE_ERROR_CODES)[number];

/** A refusal of a licence file; `message` says why in words a person can act on. */
export class LicenceError extends Error {
  override name = 'LicenceError';
  readonly code: LicenceErrorCode;
  constructor(code: LicenceErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** A licence is a few levels deep; deeper input is refused before it can exhaust the stack. */
const MAX_DEPTH = 32;

/** JSON with object keys sorted at every level, no whitespace: what the signature covers. */
export function canonicalJson(value: unknown, depth = 0): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (depth >= MAX_DEPTH)
    throw new LicenceError('MALFORMED', `the licence file is nested more than ${MAX_DEPTH} levels deep`);
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v, depth + 1)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v, depth + 1)}`).join(',')}}`;
}

export function signingPayload(body: LicenceBody): Buffer {
  return Buffer.from(canonicalJson(body), 'utf8');
}

export function generateIssuerKeys(): { publicKeyPem: string; privateKeyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return {
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

function loadKey(pem: string, kind: 'public' | 'private'): KeyObject {
  let key: KeyObject;
  try {
    key = kind === 'public' ? createPublicKey(pem) : createPrivateKey(pem);
  } catch (err) {
    throw new LicenceError('BAD_KEY', `the ${kind} key is not a PEM key: ${(err as Error).message}`);
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw new LicenceError('BAD_KEY', `the ${kind} key is ${key.asymmetricKeyType}, expected ed25519`);
  return key;
}

function describeZod(err: z.ZodError): string {
  return err.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : '(top)'}: ${i.message}`)
    .join('; ');
}

/** Validate a licence body and sign it with the issuer's private key. */
export function signLicence(body: unknown, privateKeyPem: string): LicenceFile {
  const parsed = licenceBodySchema.safeParse(body);
  if (!parsed.success)
    throw new LicenceError('MALFORMED', `the licence is not valid: ${describeZod(parsed.error)}`);
  const key = loadKey(privateKeyPem, 'private');
  const signature = sign(null, signingPayload(parsed.data), key).toString('base64');
  return { ...parsed.data, signature };
}

/** Parse JSON text into a licence, checking the schema and the signature only. */
export function parseAndVerify(text: string, publicKeyPem: string): LicenceFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new LicenceError('MALFORMED', `the licence file is not JSON: ${(err as Error).message}`);
  }
  const outer = licenceFileSchema.safeParse(raw);
  if (!outer.success)
    throw new LicenceError('MALFORMED', `the licence file is not valid: ${describeZod(outer.error)}`);
  const { signature } = outer.data;
  // The signed content is taken from the parsed text, not from the schema's output: the schema
  // drops a "__proto__" key, which would let one be added to a signed file unnoticed.
  const { signature: _signature, ...bodyRaw } = raw as Record<string, unknown>;
  const key = loadKey(publicKeyPem, 'public');
  const sig = Buffer.from(signature, 'base64');
  // The signature covers the file as written (canonicalised): any change, including a field
  // the schema does not know, is tampering.
  if (sig.length !== 64 || !verify(null, Buffer.from(canonicalJson(bodyRaw), 'utf8'), key, sig))
    throw new LicenceError(
      'BAD_SIGNATURE',
      'signature does not match the issuer key (the file was changed after signing, or signed by another issuer)',
    );
  const body = licenceBodySchema.safeParse(bodyRaw);
  if (!body.success)
    throw new LicenceError('MALFORMED', `the licence file is not valid: ${describeZod(body.error)}`);
  return { ...body.data, signature };
}

export type VerifyOptions = {
  /** the pair identity (namespace/name) the licence must be issued to */
  pairId?: string | undefined;
  /** wall-clock ms */
  now: number;
  /** tolerated clock difference for the issue date (default 5 minutes) */
  skewMs?: number;
};

export type VerifiedLicence = {
  licence: LicenceFile;
  features: FeatureConfig[];
  /** features that are not usable at `now` (expired or not yet started), in words */
  warnings: string[];
  /** the latest expiry of a usable feature (wall ms) */
  expiresMs: number;
  /** the usable feature that expires first, and when (wall ms): what an expiry warning names */
  firstExpiry: { feature: string; ms: number };
  summary: string;
};

/**
 * The full check a server applies before using a file: schema, signature, identity, dates.
 * A file in which no feature is usable any more is refused; single expired features are
 * reported as warnings and denied at checkout with LICENSE_EXPIRED.
 */
export function verifyLicence(text: string, publicKeyPem: string, opts: VerifyOptions): VerifiedLicence {
  const licence = parseAndVerify(text, publicKeyPem);
  if (opts.pairId !== undefined && licence.issuedTo !== opts.pairId)
    throw new LicenceError('WRONG_PAIR', `issued to ${licence.issuedTo}, this pair is ${opts.pairId}`);
  const skew = opts.skewMs ?? 5 * 60_000;
  if (Date.parse(licence.issued) > opts.now + skew)
    throw new LicenceError('NOT_YET_VALID', `issued on ${licence.issued}, which is in the future`);
  const features = licence.features.map(toFeatureConfig);
  const warnings: string[] = [];
  let usable = 0;
  let expiresMs = 0;
  let firstExpiry = { feature: '', ms: Infinity };
  for (const f of features) {
    if (opts.now >= f.expiryMs) warnings.push(`feature ${f.name} expired on ${isoDay(f.expiryMs)}`);
    else if (opts.now < f.startMs) warnings.push(`feature ${f.name} starts on ${isoDay(f.startMs)}`);
    else {
      usable += 1;
      expiresMs = Math.max(expiresMs, f.expiryMs);
      if (f.expiryMs < firstExpiry.ms) firstExpiry = { feature: f.name, ms: f.expiryMs };
    }
  }
  if (usable === 0) {
    const allFuture = features.every((f) => opts.now < f.startMs);
    throw new LicenceError(allFuture ? 'NOT_YET_VALID' : 'EXPIRED', warnings.join('; '));
  }
  const summary =
    `${features.length} feature${features.length === 1 ? '' : 's'}, expires ${isoDay(expiresMs)}` +
    (warnings.length ? ` (${warnings.join('; ')})` : '');
  return { licence, features, warnings, expiresMs, firstExpiry, summary };
}

export function toFeatureConfig(f: Feature): FeatureConfig {
  return {
    name: f.name,
    seats: f.seats,
    startMs: Date.parse(f.start),
    expiryMs: Date.parse(f.expiry),
    reserved: (f.reserved ?? []).map((r) => ({ host: r.host, seats: r.seats })),
    maxPerUser: f.maxPerUser,
    maxPerHost: f.maxPerHost,
    excludeUsers: f.exclude?.users ?? [],
    excludeHosts: f.exclude?.hosts ?? [],
    lingerMs: (f.lingerSeconds ?? 0) * 1000,
  };
}

function isoDay(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso;
}
