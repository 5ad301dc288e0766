import type {
  V1IPBlock,
  V1NetworkPolicy,
  V1NetworkPolicyIngressRule,
  V1NetworkPolicyPeer,
} from '@kubernetes/client-node';
import { LABEL_PAIR, type LicenseServerPair, type NetworkPolicyPeer } from '../api/pair.ts';
import { childMetadata, pairLabels } from './child-metadata.ts';
import { childNames } from './child-names.ts';

/** How the operator's own pods are found: their namespace and labels (the chart passes them). */
export interface OperatorPeer {
  namespace: string;
  podLabels: Record<string, string>;
}

/**
 * Typed with the client library's models on purpose: its serializer keeps only their field names
 * (`_from` for `from`), and an excess property check catches a wrong one here.
 */
function toPeer(p: NetworkPolicyPeer): V1NetworkPolicyPeer {
  const selector = (sel: NonNullable<NetworkPolicyPeer['podSelector']>) => structuredClone(sel);
  const ipBlock = (b: NonNullable<NetworkPolicyPeer['ipBlock']>): V1IPBlock =>
    b.except ? { cidr: b.cidr, except: [...b.except] } : { cidr: b.cidr };
  return {
    ...(p.podSelector ? { podSelector: selector(p.podSelector) } : {}),
    ...(p.namespaceSelector ? { namespaceSelector: selector(p.namespaceSelector) } : {}),
    ...(p.ipBlock ? { ipBlock: ipBlock(p.ipBlock) } : {}),
  };
}

/**
 * Ingress of the member pods: the licence port from the pair's clients, the admin port (status,
 * promote/demote, replication) from the other member and the operator only, the metrics port from
 * the scrapers. The operator may reach every port: its health check can target any of them.
 * Without `operator` (an operator outside the cluster) no rule admits it; such a setup turns the
 * policy off. Undefined when the pair opts out.
 */
export function desiredNetworkPolicy(
  pair: LicenseServerPair,
  operator: OperatorPeer | undefined,
): V1NetworkPolicy | undefined {
  const np = pair.spec.networkPolicy;
  if (!np.enabled) return undefined;
  const peers = (list: NetworkPolicyPeer[] | undefined) =>
    list && list.length > 0 ? { _from: list.map(toPeer) } : {};
  const members = { podSelector: { matchLabels: { [LABEL_PAIR]: pair.metadata.name } } };
  const ingress: V1NetworkPolicyIngressRule[] = [
    { ...peers(np.clients), ports: [{ port: 'licences', protocol: 'TCP' }] },
    { _from: [members], ports: [{ port: 'admin', protocol: 'TCP' }] },
    { ...peers(np.metricsFrom), ports: [{ port: 'metrics', protocol: 'TCP' }] },
  ];
  if (operator)
    ingress.push({
      _from: [
        {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': operator.namespace } },
          podSelector: { matchLabels: { ...operator.podLabels } },
        },
      ],
    });
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: childMetadata(pair, childNames(pair.metadata.name).networkPolicy, pairLabels(pair)),
    spec: { podSelector: { ...members.podSelector }, policyTypes: ['Ingress'], ingress },
  };
}
