// Where and how the operator calls a member's admin port: https with the member's identity to
// check when the pair serves TLS, plain http otherwise.
import type { SecureContext } from 'node:tls';
import type { LicenseServerPair, Member } from '../../api/pair.ts';
import { memberIdentity, parseIdentity, type Identity } from '../../tls/identity.ts';
import { servesTls } from '../children.ts';
import type { MemberCallTls } from '../member-client.ts';

export type OperatorContext = () => SecureContext | undefined;

export function memberCallTls(
  pair: LicenseServerPair,
  member: Member,
  context: OperatorContext | undefined,
): MemberCallTls | undefined {
  if (!servesTls(pair) || !context) return undefined;
  const identity = parseIdentity(memberIdentity(`${pair.metadata.namespace}/${pair.metadata.name}`, member));
  return { context, identity: identity as Identity & { kind: 'member' } };
}

export function memberAdminBaseUrl(pair: LicenseServerPair, podIP: string): string {
  const host = podIP.includes(':') ? `[${podIP}]` : podIP;
  return `${servesTls(pair) ? 'https' : 'http'}://${host}:${pair.spec.server.ports.admin}`;
}
