import { describe, expect, it } from 'vitest';
import {
  clientSelector,
  desiredClientService,
  desiredMemberService,
  liveFromSelector,
} from '../../../src/operator/pair-services.ts';
import { pair } from './child-fixtures.ts';

describe('client Service', () => {
  it('selects the live member', () => {
    const s = desiredClientService(pair(), 'redundant');
    expect(s.metadata!.name).toBe('eda');
    expect(s.spec!.selector).toEqual({ 'lpo.dev/pair': 'eda', 'lpo.dev/member': 'redundant' });
    expect(s.spec!.ports).toEqual([
      { name: 'licences', port: 7070, targetPort: 'licences', protocol: 'TCP' },
    ]);
    expect(s.spec!.type).toBe('ClusterIP');
    // the selector alone decides: the pod's readiness does not race the operator's move
    expect(s.spec!.publishNotReadyAddresses).toBe(true);
  });
  it('selects no pod when no member is live (empty endpoints, not a selector-less Service)', () => {
    const s = desiredClientService(pair(), '');
    expect(s.spec!.selector).toEqual({ 'lpo.dev/pair': 'eda', 'lpo.dev/member': 'none' });
    expect(liveFromSelector(s.spec!.selector)).toBe('');
  });
  it('round-trips the live member through the selector', () => {
    for (const m of ['primary', 'redundant', ''] as const)
      expect(liveFromSelector(clientSelector(pair(), m))).toBe(m);
    expect(liveFromSelector(undefined)).toBe('');
  });
  it('takes type, port and annotations from the spec', () => {
    const s = desiredClientService(
      pair({
        service: { type: 'LoadBalancer', port: 27000, annotations: { 'lb.example/internal': 'true' } },
      }),
      'primary',
    );
    expect(s.spec!.type).toBe('LoadBalancer');
    expect(s.spec!.ports![0]).toMatchObject({ port: 27000, targetPort: 'licences' });
    expect(s.metadata!.annotations).toEqual({ 'lb.example/internal': 'true' });
  });
});

describe('per-member Services', () => {
  it('member Services are headless, select one member, publish not-ready addresses, expose admin', () => {
    const s = desiredMemberService(pair(), 'redundant');
    expect(s.metadata!.name).toBe('eda-redundant');
    // The name resolves to the pod itself: no cluster IP to allocate, nothing for kube-proxy.
    expect(s.spec!.clusterIP).toBe('None');
    expect(s.spec!.selector).toEqual({ 'lpo.dev/pair': 'eda', 'lpo.dev/member': 'redundant' });
    expect(s.spec!.publishNotReadyAddresses).toBe(true);
    expect(s.spec!.ports!.map((p) => [p.name, p.port])).toEqual([
      ['admin', 7071],
      ['licences', 7070],
      ['metrics', 9464],
    ]);
  });
});
