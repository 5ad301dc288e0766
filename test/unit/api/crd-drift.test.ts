import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { apiDocs } from '../../../src/api/api-docs.ts';
import { crd, crdYaml, openApiSchema } from '../../../src/api/crd.ts';
import { type JsonSchema, toStructural } from '../../../src/api/structural-schema.ts';
import { CRD_PATH, DOCS_PATH, generatedFiles } from '../../../src/api/generate-crds.ts';

type Node = JsonSchema & {
  properties?: Record<string, Node>;
  items?: Node;
  additionalProperties?: Node;
  anyOf?: Node[];
};

function walk(n: Node, path: string, visit: (n: Node, path: string) => void): void {
  visit(n, path);
  for (const [k, v] of Object.entries(n.properties ?? {})) walk(v, `${path}.${k}`, visit);
  if (n.items) walk(n.items, `${path}[]`, visit);
  if (n.additionalProperties && typeof n.additionalProperties === 'object') {
    walk(n.additionalProperties, `${path}{}`, visit);
  }
}

const schema = openApiSchema() as Node;
const spec = schema.properties!['spec']!;
const status = schema.properties!['status']!;

describe('checked-in files', () => {
  it('crds/ equals the generated CRD (run `npm run crds` after changing src/api/pair.ts)', () => {
    expect(readFileSync(CRD_PATH, 'utf8')).toBe(crdYaml());
  });
  it('docs/api.md equals the generated reference', () => {
    expect(readFileSync(DOCS_PATH, 'utf8')).toBe(apiDocs());
  });
  it('generates exactly these files', () => {
    expect(generatedFiles().map((f) => f.path)).toEqual([CRD_PATH, DOCS_PATH]);
  });
  it('the YAML round-trips to the CRD object', () => {
    expect(parse(crdYaml())).toEqual(crd());
  });
});

describe('the CRD', () => {
  const c = crd() as {
    metadata: { name: string };
    spec: {
      group: string;
      scope: string;
      names: { kind: string; plural: string; shortNames: string[] };
      versions: {
        name: string;
        served: boolean;
        storage: boolean;
        subresources: unknown;
        additionalPrinterColumns: { name: string; jsonPath: string }[];
      }[];
    };
  };
  it('has the names of the design', () => {
    expect(c.metadata.name).toBe('licenseserverpairs.lpo.dev');
    expect(c.spec.group).toBe('lpo.dev');
    expect(c.spec.scope).toBe('Namespaced');
    expect(c.spec.names).toMatchObject({
      kind: 'LicenseServerPair',
      plural: 'licenseserverpairs',
      shortNames: ['lsp'],
    });
    expect(c.spec.versions).toHaveLength(1);
    expect(c.spec.versions[0]).toMatchObject({
      name: 'v1alpha1',
      served: true,
      storage: true,
      subresources: { status: {} },
    });
  });
  it('has printer columns pointing at status fields that exist', () => {
    const cols = c.spec.versions[0]!.additionalPrinterColumns;
    expect(cols.map((col) => col.name)).toEqual([
      'Live',
      'Primary',
      'Redundant',
      'Phase',
      'Failovers',
      'Age',
      'Reason',
    ]);
    for (const col of cols.filter((x) => x.jsonPath.startsWith('.status.'))) {
      let n: Node | undefined = status;
      // A filtered list (conditions[?(@.type=="Ready")]) is followed into its items.
      const path = col.jsonPath.replace(/\[\?\(@\.type=="[A-Za-z]+"\)\]/, '.[]');
      for (const part of path.split('.').slice(2)) n = part === '[]' ? n?.items : n?.properties?.[part];
      expect(n, col.jsonPath).toBeDefined();
      expect(n!['type'], col.jsonPath).toMatch(/string|integer/);
    }
  });
});

describe('the schema is structural', () => {
  it('every node has a type, or is int-or-string / preserve-unknown', () => {
    walk(schema, '', (n, path) => {
      if (path === '.metadata') return;
      const ok =
        typeof n['type'] === 'string' ||
        n['x-kubernetes-int-or-string'] === true ||
        n['x-kubernetes-preserve-unknown-fields'] === true;
      expect(ok, path).toBe(true);
    });
  });
  it('has no $ref, $schema, additionalProperties:false, propertyNames or stray anyOf', () => {
    walk(schema, '', (n, path) => {
      for (const k of ['$ref', '$schema', '$defs', 'propertyNames', 'oneOf', 'allOf', 'not', 'nullable']) {
        expect(n[k], `${path} ${k}`).toBeUndefined();
      }
      expect((n.additionalProperties as unknown) === false, path).toBe(false);
      if (n.properties) expect(n.additionalProperties, path).toBeUndefined();
      if (n.anyOf) {
        expect(n['x-kubernetes-int-or-string'], path).toBe(true);
        expect(n.anyOf).toEqual([{ type: 'integer' }, { type: 'string' }]);
      }
    });
  });
  it('list-map keys are required properties of the items', () => {
    walk(schema, '', (n, path) => {
      if (n['x-kubernetes-list-type'] !== 'map') return;
      const keys = n['x-kubernetes-list-map-keys'] as string[];
      for (const k of keys) expect(n.items!['required'], path).toContain(k);
    });
  });
  it('conditions are a map list keyed by type', () => {
    const conds = status.properties!['conditions']!;
    expect(conds['x-kubernetes-list-type']).toBe('map');
    expect(conds['x-kubernetes-list-map-keys']).toEqual(['type']);
    expect(conds.items!['required']).toEqual(['type', 'status', 'reason', 'lastTransitionTime']);
  });
  it('the health-check port is int-or-string', () => {
    const port = spec.properties!['healthCheck']!.properties!['port']!;
    expect(port['x-kubernetes-int-or-string']).toBe(true);
    expect(port['default']).toBe('admin');
  });
  it('affinity is passed through', () => {
    const aff = spec.properties!['placement']!.properties!['affinity']!;
    expect(aff).toMatchObject({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true });
  });
  it('date-time strings carry no regex', () => {
    walk(schema, '', (n, path) => {
      if (n['format'] === 'date-time') expect(n['pattern'], path).toBeUndefined();
    });
  });
});

describe('kubectl explain is useful', () => {
  it('every spec and status property has a description', () => {
    const missing: string[] = [];
    for (const [root, n] of [
      ['spec', spec],
      ['status', status],
    ] as const) {
      walk(n, root, (node, path) => {
        if (path.endsWith('{}') || path.endsWith('[]')) return; // map values, list items
        if (typeof node['description'] !== 'string' || (node['description'] as string).length < 5)
          missing.push(path);
      });
    }
    expect(missing).toEqual([]);
  });
  it('defaults are in the schema', () => {
    const d = (path: string): unknown => {
      let n: Node | undefined = spec;
      for (const p of path.split('.')) n = n?.properties?.[p];
      return n?.['default'];
    };
    const expected: Record<string, unknown> = {
      'server.image': 'license-pair-operator/license-server:0.1.0',
      'server.imagePullPolicy': 'IfNotPresent',
      'server.ports': {},
      'server.ports.licences': 7070,
      'server.ports.admin': 7071,
      'server.ports.metrics': 9464,
      'server.protocol': 'reference',
      'server.license.fileKey': 'license.json',
      'server.license.publicKeyKey': 'public-key.pem',
      placement: {},
      'placement.spreadMembers': 'Preferred',
      healthCheck: {},
      'healthCheck.type': 'HTTP',
      'healthCheck.port': 'admin',
      'healthCheck.periodSeconds': 2,
      'healthCheck.timeoutSeconds': 1,
      'healthCheck.failureThreshold': 3,
      'healthCheck.successThreshold': 2,
      failover: {},
      'failover.enabled': true,
      'failover.delaySeconds': 0,
      'failover.failback': 'Automatic',
      'failover.failbackStableSeconds': 30,
      'failover.minSecondsBetweenFailovers': 10,
      service: {},
      'service.type': 'ClusterIP',
      'service.port': 7070,
      preferredMember: 'primary',
    };
    for (const [path, value] of Object.entries(expected)) expect(d(path), path).toEqual(value);
  });
  it('declares the CEL rules', () => {
    const rules = (n: Node) =>
      (n['x-kubernetes-validations'] as { rule: string; message: string }[]).map((r) => r.rule);
    expect(rules(spec.properties!['healthCheck']!)).toEqual([
      '!has(self.timeoutSeconds) || !has(self.periodSeconds) || self.timeoutSeconds <= self.periodSeconds',
      '!has(self.timeoutMilliseconds) || !has(self.periodSeconds) || self.timeoutMilliseconds <= self.periodSeconds * 1000',
      "self.type == 'HTTP' || !has(self.path)",
      "!has(self.port) || (type(self.port) == string ? self.port in ['licences', 'admin', 'metrics'] : (self.port >= 1 && self.port <= 65535))",
    ]);
    expect(rules(spec.properties!['server']!.properties!['ports']!)).toHaveLength(1);
  });
  it('only the secret name is required in spec.server', () => {
    expect(spec['required']).toEqual(['server']);
    expect(spec.properties!['server']!['required']).toEqual(['license']);
  });
});

describe('toStructural', () => {
  it('inlines $refs', () => {
    const root = {
      type: 'object',
      properties: { a: { $ref: '#/$defs/A' } },
      $defs: { A: { type: 'string' } },
    };
    expect(toStructural(root)).toEqual({ type: 'object', properties: { a: { type: 'string' } } });
  });
  it('refuses non-structural unions and untyped nodes', () => {
    expect(() => toStructural({ anyOf: [{ type: 'string' }, { type: 'number' }] })).toThrow(/structural/);
    expect(() => toStructural({ description: 'x' })).toThrow(/without type/);
  });
  it('drops safe-integer bounds and turns free-form maps into preserve-unknown', () => {
    expect(
      toStructural({ type: 'integer', minimum: Number.MIN_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER }),
    ).toEqual({
      type: 'integer',
    });
    expect(
      toStructural({ type: 'object', additionalProperties: {}, propertyNames: { type: 'string' } }),
    ).toEqual({
      type: 'object',
      'x-kubernetes-preserve-unknown-fields': true,
    });
  });
});
