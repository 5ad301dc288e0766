// zod's JSON Schema turned into the *structural* OpenAPI schema a CRD must have
// (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema):
// every node has a type (or x-kubernetes-int-or-string / x-kubernetes-preserve-unknown-fields),
// no $ref, no additionalProperties:false, no type/description/default inside anyOf.
import { z } from 'zod';

export type JsonSchema = { [key: string]: unknown };

const SAFE_MAX = Number.MAX_SAFE_INTEGER;
const SAFE_MIN = Number.MIN_SAFE_INTEGER;

export function isObject(v: unknown): v is JsonSchema {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function resolveRef(ref: string, root: JsonSchema): JsonSchema {
  const prefix = '#/$defs/';
  if (!ref.startsWith(prefix)) throw new Error(`unsupported $ref ${ref}`);
  const defs = root['$defs'];
  const target = isObject(defs) ? defs[ref.slice(prefix.length)] : undefined;
  if (!isObject(target)) throw new Error(`unresolved $ref ${ref}`);
  return target;
}

/** Turn one node of zod's JSON Schema (draft 2020-12) into a structural OpenAPI v3 schema node. */
export function toStructural(node: JsonSchema, root: JsonSchema = node, depth = 0): JsonSchema {
  if (depth > 64) throw new Error('schema too deep (recursive schemas are not supported by CRDs)');
  let n: JsonSchema = { ...node };
  if (typeof n['$ref'] === 'string') {
    const { $ref, ...rest } = n;
    n = { ...resolveRef($ref as string, root), ...rest };
  }
  const out: JsonSchema = {};
  // Stable key order for readable YAML: description first, then type, then the rest.
  if (typeof n['description'] === 'string') out['description'] = n['description'];

  if (n['x-kubernetes-int-or-string'] === true) {
    out['x-kubernetes-int-or-string'] = true;
    out['anyOf'] = [{ type: 'integer' }, { type: 'string' }];
    if (n['default'] !== undefined) out['default'] = n['default'];
    copyExtensions(n, out);
    return out;
  }

  if (Array.isArray(n['anyOf']) || Array.isArray(n['oneOf']) || Array.isArray(n['allOf'])) {
    throw new Error(
      `anyOf/oneOf/allOf are not structural; mark int-or-string or restructure: ${JSON.stringify(n)}`,
    );
  }
  if (n['type'] === undefined && n['x-kubernetes-preserve-unknown-fields'] !== true) {
    throw new Error(`schema node without type: ${JSON.stringify(n)}`);
  }
  if (n['type'] !== undefined) out['type'] = n['type'];
  for (const key of [
    'format',
    'enum',
    'default',
    'pattern',
    'minLength',
    'maxLength',
    'minItems',
    'maxItems',
  ]) {
    if (n[key] !== undefined) out[key] = n[key];
  }
  if (n['format'] === 'date-time') delete out['pattern']; // zod adds a regex; the API server checks the format
  if (typeof n['minimum'] === 'number' && n['minimum'] !== SAFE_MIN) out['minimum'] = n['minimum'];
  if (typeof n['maximum'] === 'number' && n['maximum'] !== SAFE_MAX) out['maximum'] = n['maximum'];
  if (n['const'] !== undefined) out['enum'] = [n['const']];

  if (n['type'] === 'object') {
    const props = n['properties'];
    if (isObject(props)) {
      const p: JsonSchema = {};
      for (const [k, v] of Object.entries(props)) p[k] = toStructural(v as JsonSchema, root, depth + 1);
      out['properties'] = p;
      if (Array.isArray(n['required']) && n['required'].length > 0) out['required'] = n['required'];
    }
    const ap = n['additionalProperties'];
    if (isObject(ap) && !isObject(props)) {
      if (Object.keys(ap).length === 0) out['x-kubernetes-preserve-unknown-fields'] = true;
      else out['additionalProperties'] = toStructural(ap, root, depth + 1);
    }
  }
  if (n['type'] === 'array' && isObject(n['items'])) {
    out['items'] = toStructural(n['items'], root, depth + 1);
  }
  copyExtensions(n, out);
  return out;
}

function copyExtensions(from: JsonSchema, to: JsonSchema): void {
  for (const [k, v] of Object.entries(from)) {
    if (k.startsWith('x-kubernetes-') && k !== 'x-kubernetes-int-or-string') to[k] = v;
  }
}

export function structuralSchemaOf(s: z.ZodType): JsonSchema {
  // io 'input': fields with defaults are optional (the API server fills them in).
  return toStructural(z.toJSONSchema(s, { io: 'input', unrepresentable: 'throw' }) as JsonSchema);
}
