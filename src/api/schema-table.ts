// A structural schema as a field table of docs/api.md. It reads the CRD's schema rather than zod's,
// so that the types, defaults and CEL rules shown are the ones the API server enforces.
import { isObject, type JsonSchema } from './structural-schema.ts';

type Row = {
  path: string;
  type: string;
  def: string;
  required: boolean;
  description: string;
  rules: string[];
};

function typeLabel(s: JsonSchema): string {
  if (s['x-kubernetes-int-or-string'] === true) return 'int or string';
  if (s['x-kubernetes-preserve-unknown-fields'] === true && s['type'] === 'object')
    return 'object (free-form)';
  if (Array.isArray(s['enum']))
    return (s['enum'] as unknown[]).map((e) => `\`${JSON.stringify(e)}\``).join(' | ');
  if (s['type'] === 'array') {
    const items = s['items'];
    return `[]${isObject(items) ? typeLabel(items) : 'unknown'}`;
  }
  if (s['type'] === 'object' && isObject(s['additionalProperties'])) {
    return `map[string]${typeLabel(s['additionalProperties'])}`;
  }
  const t = String(s['type']);
  const bounds: string[] = [];
  if (typeof s['minimum'] === 'number') bounds.push(`≥ ${s['minimum']}`);
  if (typeof s['maximum'] === 'number') bounds.push(`≤ ${s['maximum']}`);
  if (s['format'] === 'date-time') return 'string (date-time)';
  return bounds.length > 0 ? `${t} (${bounds.join(', ')})` : t;
}

function rows(s: JsonSchema, path: string, required: boolean, out: Row[]): void {
  const rules = Array.isArray(s['x-kubernetes-validations'])
    ? (s['x-kubernetes-validations'] as { rule: string; message?: string }[]).map(
        (v) => `\`${v.rule}\`${v.message ? ` — ${v.message}` : ''}`,
      )
    : [];
  out.push({
    path,
    type: typeLabel(s),
    def: s['default'] === undefined ? '' : `\`${JSON.stringify(s['default'])}\``,
    required,
    description: typeof s['description'] === 'string' ? s['description'] : '',
    rules,
  });
  const req = Array.isArray(s['required']) ? (s['required'] as string[]) : [];
  if (isObject(s['properties'])) {
    for (const [k, v] of Object.entries(s['properties']))
      rows(v as JsonSchema, `${path}.${k}`, req.includes(k), out);
  }
  const items = s['items'];
  if (s['type'] === 'array' && isObject(items) && isObject(items['properties'])) {
    const itemReq = Array.isArray(items['required']) ? (items['required'] as string[]) : [];
    for (const [k, v] of Object.entries(items['properties'])) {
      rows(v as JsonSchema, `${path}[].${k}`, itemReq.includes(k), out);
    }
  }
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function schemaTable(schema: JsonSchema, root: string): string {
  const r: Row[] = [];
  rows(schema, root, true, r);
  const lines = ['| field | type | default | description |', '| --- | --- | --- | --- |'];
  for (const row of r) {
    const desc = [row.required && row.path !== root ? '**Required.** ' : '', row.description];
    for (const rule of row.rules) desc.push(`<br>Rule: ${rule}`);
    lines.push(`| \`${row.path}\` | ${cell(row.type)} | ${row.def} | ${cell(desc.join(''))} |`);
  }
  return lines.join('\n');
}
