// Where and how the operator calls a member's admin port: https with the member's identity to
// check when its pod was made to serve TLS (children.ts, LABEL_TLS), plain http otherwise.
import type { SecureContext } from 'node:tls';
import type { LicenseServerPair, Member } from '../../api/pair.ts';
import { memberIdentity, parseIdentity, type Identity } from '../../tls/identity.ts';
import { podServesTls } from '../children.ts';
import type { MemberCallTls } from '../member-client.ts';

export type OperatorContext = () => SecureContext | undefined;

type PodLabels = Parameters<typeof podServesTls>[0];

export function memberCallTls(
  pair: LicenseServerPair,
  member: Member,
  pod: PodLabels,
  context: OperatorContext | undefined,
): MemberCallTls | undefined {
  if (!podServesTls(pod) || !context) return undefined;
  const identity = parseIdentity(memberIdentity(`${pair.metadata.namespace}/${pair.metadata.name}`, member));
  return { context, identity: identity as Identity & { kind: 'member' } };
}

export function memberAdminBaseUrl(pair: LicenseServerPair, pod: PodLabels, podIP: string): string {
  const host = podIP.includes(':') ? `[${podIP}]` : podIP;
  return `${podServesTls(pod) ? 'https' : 'http'}://${host}:${pair.spec.server.ports.admin}`;
}
