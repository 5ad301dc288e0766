import { describe, expect, it } from 'vitest';
import { desiredNetworkPolicy } from '../../../src/operator/pair-network-policy.ts';
import { pair } from './child-fixtures.ts';

describe('desiredNetworkPolicy', () => {
  const operator = {
    namespace: 'lpo-system',
    podLabels: { 'app.kubernetes.io/name': 'license-pair-operator', 'app.kubernetes.io/instance': 'lpo' },
  };
  // What the API server receives: the client library's serializer maps _from/_except to from/except.
  const wire = (o: unknown) => JSON.parse(JSON.stringify(o).replaceAll('"_from"', '"from"'));

  it('selects the pair’s pods and limits ingress port by port; the operator reaches every port', () => {
    const np = wire(desiredNetworkPolicy(pair(), operator));
    expect(np.metadata.name).toBe('eda');
    expect(np.spec).toEqual({
      podSelector: { matchLabels: { 'lpo.dev/pair': 'eda' } },
      policyTypes: ['Ingress'],
      ingress: [
        { ports: [{ port: 'licences', protocol: 'TCP' }] },
        {
          from: [{ podSelector: { matchLabels: { 'lpo.dev/pair': 'eda' } } }],
          ports: [{ port: 'admin', protocol: 'TCP' }],
        },
        { ports: [{ port: 'metrics', protocol: 'TCP' }] },
        {
          from: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'lpo-system' } },
              podSelector: { matchLabels: operator.podLabels },
            },
          ],
        },
      ],
    });
  });

  it('admits only the listed clients to the licence port and the listed scrapers to metrics', () => {
    const p = pair({
      networkPolicy: {
        clients: [
          { namespaceSelector: { matchLabels: { team: 'eda' } } },
          { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } },
        ],
        metricsFrom: [{ podSelector: { matchLabels: { app: 'prometheus' } } }],
      },
    });
    const np = wire(desiredNetworkPolicy(p, operator));
    expect(np.spec.ingress[0]).toEqual({
      from: [
        { namespaceSelector: { matchLabels: { team: 'eda' } } },
        { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } },
      ],
      ports: [{ port: 'licences', protocol: 'TCP' }],
    });
    expect(np.spec.ingress[2].from).toEqual([{ podSelector: { matchLabels: { app: 'prometheus' } } }]);
  });

  it('uses the client model’s field names, which its serializer keeps (a plain `from` would be dropped)', async () => {
    const { ObjectSerializer } = await import('@kubernetes/client-node/dist/gen/models/ObjectSerializer.js');
    const p = pair({
      networkPolicy: { clients: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }] },
    });
    const np = desiredNetworkPolicy(p, operator)!;
    // What KubernetesObjectApi sends: the model serializer's output.
    const sent = ObjectSerializer.serialize(np, 'V1NetworkPolicy', '') as { spec: { ingress: unknown[] } };
    expect(sent.spec.ingress[0]).toEqual({
      from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }],
      ports: [{ port: 'licences', protocol: 'TCP' }],
    });
    expect(sent.spec.ingress[1]).toEqual({
      from: [{ podSelector: { matchLabels: { 'lpo.dev/pair': 'eda' } } }],
      ports: [{ port: 'admin', protocol: 'TCP' }],
    });
  });

  it('has no operator rule when the operator’s pods are unknown, and is absent when disabled', () => {
    expect(desiredNetworkPolicy(pair(), undefined)!.spec!.ingress).toHaveLength(3);
    expect(desiredNetworkPolicy(pair({ networkPolicy: { enabled: false } }), operator)).toBeUndefined();
  });
});
