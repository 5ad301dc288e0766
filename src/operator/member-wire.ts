// What the operator's calls to a member carry and bring back: the health check's result, the
// member's status answer, and how the call is authenticated. Its own module so that the request,
// the answer's parser and the client share them without importing one another.
import type { SecureContext } from 'node:tls';
import type { Identity } from '../tls/identity.ts';
import type { LicenceReport } from './observation.ts';
import type { ServingReport } from './serving.ts';

export interface ProbeResult {
  ok: boolean;
  latencyMs: number;
  message: string;
}

export interface MemberStatus {
  role: 'active' | 'standby';
  epoch: number;
  replication: 'in-sync' | 'catching-up' | 'disconnected' | 'none';
  lagEntries?: number;
  lagSeconds?: number;
  peerLastSeenSeconds?: number;
  serving?: ServingReport;
  licence?: LicenceReport;
  /** names this answer: a solo grant sent later is counted from it */
  anchor?: number;
}

/**
 * TLS to a member: the operator's context (the installation's trust bundle and its client
 * certificate, read for each call so a renewal is picked up) and the member identity the
 * certificate must carry. The operator dials pod IPs, which are in no certificate: the identity
 * is what proves it reached that member of that pair.
 */
export interface MemberCallTls {
  context: () => SecureContext | undefined;
  identity: Identity & { kind: 'member' };
}

/** How the operator authenticates to a member, and the member to it. */
export interface MemberAuth {
  token?: string | undefined;
  tls?: MemberCallTls | undefined;
}
