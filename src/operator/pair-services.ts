import type { V1Service } from '@kubernetes/client-node';
import { LABEL_MEMBER, LABEL_PAIR, type LicenseServerPair, type Member } from '../api/pair.ts';
import { childMetadata, memberLabels, pairLabels } from './child-metadata.ts';
import { childNames } from './child-names.ts';
import type { LiveMember } from './observation.ts';

/** The member label value the client Service selects when no member is live: matches no pod. */
export const NO_MEMBER = 'none';

/**
 * The client Service: selects the live member, or no pod at all (empty endpoints) when none is live.
 * The operator's selector is the only switch: the endpoint is published whatever the pod's
 * readiness says. A standby reports NotReady while it has lost its active, and the kubelet would
 * only mark it Ready again at its next readiness probe after the promotion, so traffic would wait
 * a probe period behind the selector; and a live member taken out by its own probe a moment before
 * the operator moves the selector would cost kube-proxy two changes instead of one. A selected
 * member that cannot serve answers with the reason (or NOT_ACTIVE and a redirect), which a client
 * can act on, where an empty endpoint list only refuses the connection.
 */
export function desiredClientService(pair: LicenseServerPair, live: LiveMember): V1Service {
  const svc = pair.spec.service;
  const names = childNames(pair.metadata.name);
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      ...childMetadata(pair, names.clientService, pairLabels(pair)),
      ...(svc.annotations ? { annotations: { ...svc.annotations } } : {}),
    },
    spec: {
      type: svc.type,
      selector: clientSelector(pair, live),
      ports: [{ name: 'licences', port: svc.port, targetPort: 'licences', protocol: 'TCP' }],
      publishNotReadyAddresses: true,
      sessionAffinity: 'None',
    },
  };
}

/** The client Service's selector for a live member ('' → a selector that matches no pod). */
export function clientSelector(pair: LicenseServerPair, live: LiveMember): Record<string, string> {
  return { [LABEL_PAIR]: pair.metadata.name, [LABEL_MEMBER]: live === '' ? NO_MEMBER : live };
}

/** The live member a client Service selects, from its selector ('' when none). */
export function liveFromSelector(selector: Record<string, string> | undefined): LiveMember {
  const m = selector?.[LABEL_MEMBER];
  return m === 'primary' || m === 'redundant' ? m : '';
}

/**
 * Per-member Service for peer (replication) and redirected client traffic: a stable name for the
 * member's pod, listing it while not ready too. Headless: the name resolves to the pod's address,
 * so no cluster IP is allocated and kube-proxy programs nothing for it (two of a pair's three
 * Services would otherwise cost an IP allocation and proxy rules each, for traffic that goes to
 * one pod anyway).
 */
export function desiredMemberService(pair: LicenseServerPair, member: Member): V1Service {
  const ports = pair.spec.server.ports;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: childMetadata(
      pair,
      childNames(pair.metadata.name).memberService[member],
      memberLabels(pair, member),
    ),
    spec: {
      type: 'ClusterIP',
      clusterIP: 'None',
      selector: { [LABEL_PAIR]: pair.metadata.name, [LABEL_MEMBER]: member },
      publishNotReadyAddresses: true,
      ports: [
        { name: 'admin', port: ports.admin, targetPort: 'admin', protocol: 'TCP' },
        { name: 'licences', port: ports.licences, targetPort: 'licences', protocol: 'TCP' },
        { name: 'metrics', port: ports.metrics, targetPort: 'metrics', protocol: 'TCP' },
      ],
    },
  };
}
