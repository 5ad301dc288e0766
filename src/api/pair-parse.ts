// What code does with the schema of pair.ts, which the CRD is generated from: parse with every
// default, the one the schema cannot express too, and check the CRD's CEL rules again for callers
// that bypass the API server.
import type { z } from 'zod';
import {
  DEFAULT_HEALTH_PATH,
  LicenseServerPairSchema,
  MAX_PORT,
  NAMED_PORTS,
  PairSpecSchema,
  type LicenseServerPair,
  type PairSpec,
} from './pair.ts';

/** Resolve the defaults the schema cannot express (path only for HTTP checks). */
function completeSpec(spec: PairSpec): PairSpec {
  if (spec.healthCheck.type === 'HTTP' && spec.healthCheck.path === undefined) {
    return { ...spec, healthCheck: { ...spec.healthCheck, path: DEFAULT_HEALTH_PATH } };
  }
  return spec;
}

/** Validate a spec and apply every default. Throws a ZodError on invalid input. */
export function parseSpec(input: unknown): PairSpec {
  return completeSpec(PairSpecSchema.parse(input));
}

/** Validate a whole LicenseServerPair (as read from the API server) and apply every default. */
export function parsePair(input: unknown): LicenseServerPair {
  const pair = LicenseServerPairSchema.parse(input);
  return { ...pair, spec: completeSpec(pair.spec) };
}

/** Like parsePair, without throwing. */
export function safeParsePair(
  input: unknown,
): { success: true; data: LicenseServerPair } | { success: false; error: z.ZodError } {
  const r = LicenseServerPairSchema.safeParse(input);
  if (!r.success) return { success: false, error: r.error };
  return { success: true, data: { ...r.data, spec: completeSpec(r.data.spec) } };
}

/** Cross-field rules (the CEL rules of the CRD) checked in TypeScript, for callers that bypass the API server. */
export function checkSpecRules(spec: PairSpec): string[] {
  const errors: string[] = [];
  const hc = spec.healthCheck;
  if (hc.timeoutSeconds > hc.periodSeconds) {
    errors.push('healthCheck.timeoutSeconds must not exceed healthCheck.periodSeconds');
  }
  if (hc.timeoutMilliseconds !== undefined && hc.timeoutMilliseconds > hc.periodSeconds * 1000) {
    errors.push('healthCheck.timeoutMilliseconds must not exceed healthCheck.periodSeconds');
  }
  if (hc.type !== 'HTTP' && hc.path !== undefined) {
    errors.push('healthCheck.path is only allowed with healthCheck.type HTTP');
  }
  if (
    typeof hc.port === 'string'
      ? !(NAMED_PORTS as readonly string[]).includes(hc.port)
      : hc.port < 1 || hc.port > MAX_PORT
  ) {
    errors.push('healthCheck.port must be 1-65535 or one of licences, admin, metrics');
  }
  const p = spec.server.ports;
  if (p.licences === p.admin || p.licences === p.metrics || p.admin === p.metrics) {
    errors.push('ports.licences, ports.admin and ports.metrics must be different');
  }
  for (const peer of [...(spec.networkPolicy.clients ?? []), ...(spec.networkPolicy.metricsFrom ?? [])]) {
    if (!peer.podSelector && !peer.namespaceSelector && !peer.ipBlock)
      errors.push('a peer needs podSelector, namespaceSelector or ipBlock');
    if (peer.ipBlock && (peer.podSelector || peer.namespaceSelector))
      errors.push('ipBlock cannot be combined with podSelector or namespaceSelector');
  }
  return errors;
}
