import { describe, expect, it } from 'vitest';
import { checkSpecRules, parsePair, parseSpec, safeParsePair } from '../../../src/api/pair-parse.ts';
import { LABEL_MEMBER, LABEL_PAIR, LABEL_ROLE, otherMember } from '../../../src/api/pair.ts';

const minimal = { server: { license: { secretName: 'lic' } } };

describe('parseSpec defaults', () => {
  it('fills every default from a minimal spec', () => {
    expect(parseSpec(minimal)).toEqual({
      server: {
        image: 'license-pair-operator/license-server:0.1.0',
        imagePullPolicy: 'IfNotPresent',
        ports: { licences: 7070, admin: 7071, metrics: 9464 },
        protocol: 'reference',
        license: {
          secretName: 'lic',
          fileKey: 'license.json',
          publicKeyKey: 'public-key.pem',
          expiryWarningDays: 14,
        },
      },
      placement: { spreadMembers: 'Preferred' },
      healthCheck: {
        type: 'HTTP',
        path: '/healthz',
        port: 'admin',
        periodSeconds: 2,
        timeoutSeconds: 1,
        failureThreshold: 3,
        successThreshold: 2,
      },
      failover: {
        enabled: true,
        delaySeconds: 0,
        failback: 'Automatic',
        failbackStableSeconds: 30,
        minSecondsBetweenFailovers: 10,
      },
      service: { type: 'ClusterIP', port: 7070 },
      networkPolicy: { enabled: true },
      tls: { mode: 'Operator' },
      preferredMember: 'primary',
    });
  });

  it('applies inner defaults of partially given objects', () => {
    const s = parseSpec({ ...minimal, healthCheck: { periodSeconds: 5 }, failover: { failback: 'Manual' } });
    expect(s.healthCheck.periodSeconds).toBe(5);
    expect(s.healthCheck.failureThreshold).toBe(3);
    expect(s.failover.failback).toBe('Manual');
    expect(s.failover.failbackStableSeconds).toBe(30);
  });

  it('does not default the path of a TCP check', () => {
    const s = parseSpec({ ...minimal, healthCheck: { type: 'TCP', port: 7070 } });
    expect(s.healthCheck.path).toBeUndefined();
    expect(s.healthCheck.port).toBe(7070);
  });

  it('keeps storage optional and defaults its size', () => {
    expect(parseSpec(minimal).server.storage).toBeUndefined();
    expect(parseSpec({ server: { ...minimal.server, storage: {} } }).server.storage).toEqual({ size: '1Gi' });
  });

  it('accepts quantities as numbers or strings', () => {
    const s = parseSpec({
      server: { ...minimal.server, resources: { requests: { cpu: 1, memory: '64Mi' } } },
    });
    expect(s.server.resources?.requests).toEqual({ cpu: 1, memory: '64Mi' });
  });
});

describe('parseSpec rejects invalid input', () => {
  const bad: [string, unknown][] = [
    ['missing server', {}],
    ['missing licence secret', { server: {} }],
    ['empty secret name', { server: { license: { secretName: '' } } }],
    ['bad protocol', { server: { ...minimal.server, protocol: 'flexlm' } }],
    ['bad spread', { ...minimal, placement: { spreadMembers: 'Always' } }],
    ['period 0', { ...minimal, healthCheck: { periodSeconds: 0 } }],
    ['negative delay', { ...minimal, failover: { delaySeconds: -1 } }],
    ['bad failback', { ...minimal, failover: { failback: 'Sometimes' } }],
    ['bad service type', { ...minimal, service: { type: 'ExternalName' } }],
    ['port 0', { ...minimal, service: { port: 0 } }],
    ['port too big', { server: { ...minimal.server, ports: { licences: 70000 } } }],
    ['bad preferred member', { ...minimal, preferredMember: 'tertiary' }],
    ['relative path', { ...minimal, healthCheck: { path: 'healthz' } }],
    ['fractional threshold', { ...minimal, healthCheck: { failureThreshold: 1.5 } }],
  ];
  it.each(bad)('%s', (_name, input) => {
    expect(() => parseSpec(input)).toThrow();
  });
});

describe('checkSpecRules (the CEL rules, in TypeScript)', () => {
  it('accepts the defaults', () => {
    expect(checkSpecRules(parseSpec(minimal))).toEqual([]);
  });
  it('rejects timeout above period', () => {
    const s = parseSpec({ ...minimal, healthCheck: { periodSeconds: 2, timeoutSeconds: 3 } });
    expect(checkSpecRules(s)).toEqual([
      'healthCheck.timeoutSeconds must not exceed healthCheck.periodSeconds',
    ]);
  });
  it('rejects a millisecond timeout above the period, accepts one under it', () => {
    const over = parseSpec({ ...minimal, healthCheck: { periodSeconds: 1, timeoutMilliseconds: 1500 } });
    expect(checkSpecRules(over)).toEqual([
      'healthCheck.timeoutMilliseconds must not exceed healthCheck.periodSeconds',
    ]);
    const under = parseSpec({ ...minimal, healthCheck: { periodSeconds: 1, timeoutMilliseconds: 500 } });
    expect(checkSpecRules(under)).toEqual([]);
    expect(() => parseSpec({ ...minimal, healthCheck: { timeoutMilliseconds: 100 } })).toThrow();
  });
  it('rejects a path on a TCP check', () => {
    const s = parseSpec({ ...minimal, healthCheck: { type: 'TCP', path: '/x' } });
    expect(checkSpecRules(s)).toEqual(['healthCheck.path is only allowed with healthCheck.type HTTP']);
  });
  it('rejects unknown port names and out-of-range numbers', () => {
    expect(checkSpecRules(parseSpec({ ...minimal, healthCheck: { port: 'http' } }))).toHaveLength(1);
    expect(checkSpecRules(parseSpec({ ...minimal, healthCheck: { port: 0 } }))).toHaveLength(1);
    expect(checkSpecRules(parseSpec({ ...minimal, healthCheck: { port: 8080 } }))).toEqual([]);
    expect(checkSpecRules(parseSpec({ ...minimal, healthCheck: { port: 'metrics' } }))).toEqual([]);
  });
  it('rejects an empty network-policy peer and ipBlock mixed with selectors', () => {
    const np = (clients: unknown[]) => parseSpec({ ...minimal, networkPolicy: { clients } });
    expect(checkSpecRules(np([{ ipBlock: { cidr: '10.0.0.0/8' } }]))).toEqual([]);
    expect(checkSpecRules(np([{}]))).toEqual(['a peer needs podSelector, namespaceSelector or ipBlock']);
    expect(checkSpecRules(np([{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }]))).toEqual([
      'ipBlock cannot be combined with podSelector or namespaceSelector',
    ]);
  });
  it('rejects duplicate container ports', () => {
    const s = parseSpec({ server: { ...minimal.server, ports: { admin: 7070 } } });
    expect(checkSpecRules(s)).toEqual(['ports.licences, ports.admin and ports.metrics must be different']);
  });
});

describe('parsePair', () => {
  const obj = {
    apiVersion: 'lpo.dev/v1alpha1',
    kind: 'LicenseServerPair',
    metadata: { name: 'eda', namespace: 'lic', uid: 'u1', generation: 3, managedFields: [] },
    spec: minimal,
    status: { liveMember: 'primary', epoch: 2, unknownField: 1 },
  };
  it('parses a resource as read from the API server', () => {
    const p = parsePair(obj);
    expect(p.metadata.name).toBe('eda');
    expect(p.spec.healthCheck.path).toBe('/healthz');
    expect(p.status?.liveMember).toBe('primary');
    expect(p.status?.epoch).toBe(2);
  });
  it('rejects a wrong kind, safely', () => {
    const r = safeParsePair({ ...obj, kind: 'Pod' });
    expect(r.success).toBe(false);
    expect(safeParsePair(obj).success).toBe(true);
  });
});

describe('constants', () => {
  it('labels live in the API group', () => {
    expect([LABEL_PAIR, LABEL_MEMBER, LABEL_ROLE]).toEqual([
      'lpo.dev/pair',
      'lpo.dev/member',
      'lpo.dev/role',
    ]);
    expect(otherMember('primary')).toBe('redundant');
    expect(otherMember('redundant')).toBe('primary');
  });
});
