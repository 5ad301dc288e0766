// Who may call what on the admin port when it serves TLS: the caller's client certificate,
// verified against the member's CA bundle during the handshake, names an identity
// (src/tls/identity.ts), and each route admits some identities:
//
//   operator          promote, grant, reload the licence, list and revoke leases
//   peer              the replication endpoints (snapshot, entries, stream): the other member of this pair
//   operator or peer  status and demote (the peer reads the status and fences on promotion, R5)
//
// Health, readiness and the OpenAPI document stay open: the kubelet's probes carry no certificate.
// The handshake asks for a certificate but does not require one (so those probes pass); the
// check is here, per route, and a refusal is a 401/403 with the reason, logged once a minute.
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { describeIdentity, identitiesOf, isPeerOf } from '../tls/identity.ts';
import type { Identity } from '../tls/identity.ts';
import type { ErrorCode } from './protocol.ts';
import { RepeatFilter } from './repeat-filter.ts';

export type Caller = 'operator' | 'peer' | 'operator-or-peer';

export type CallerPolicy = {
  pairId: string;
  member: string;
  log: Logger;
};

export type CallerVerdict =
  { ok: true; identity: Identity } | { ok: false; status: 401 | 403; code: ErrorCode; message: string };

const WANTED: Record<Caller, string> = {
  operator: 'the operator',
  peer: "this pair's other member",
  'operator-or-peer': "the operator or this pair's other member",
};

function admits(caller: Caller, id: Identity, p: CallerPolicy): boolean {
  const operator = id.kind === 'operator';
  const peer = isPeerOf(id, p.pairId, p.member);
  return caller === 'operator' ? operator : caller === 'peer' ? peer : operator || peer;
}

/** The verdict on the TLS connection `socket` for a route open to `caller`. */
export function judgeCaller(socket: TLSSocket, caller: Caller, p: CallerPolicy): CallerVerdict {
  const want = WANTED[caller];
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0)
    return {
      ok: false,
      status: 401,
      code: 'UNAUTHORIZED',
      message: `a client certificate is required (one of ${want}, issued by the pair's CA)`,
    };
  if (!socket.authorized)
    return {
      ok: false,
      status: 401,
      code: 'UNAUTHORIZED',
      message: `the client certificate is not trusted (${String(socket.authorizationError)}): it must be issued by a CA of this member's bundle`,
    };
  const ids = identitiesOf(cert);
  const match = ids.find((id) => admits(caller, id, p));
  if (match) return { ok: true, identity: match };
  const shown = ids.length ? ids.map(describeIdentity).join(', ') : 'no identity of this product';
  return {
    ok: false,
    status: 403,
    code: 'FORBIDDEN',
    message: `the client certificate names ${shown}; this endpoint admits only ${want}`,
  };
}

/** Checks callers of one admin server and logs its refusals. */
export class CallerCheck {
  private readonly policy: CallerPolicy;
  private readonly repeats = new RepeatFilter();

  constructor(policy: CallerPolicy) {
    this.policy = policy;
  }

  /** The verdict for `req` on a route open to `caller`; a refusal is logged (once a minute per reason). */
  judge(req: IncomingMessage, caller: Caller): CallerVerdict {
    const v = judgeCaller(req.socket as TLSSocket, caller, this.policy);
    if (!v.ok && this.repeats.fresh(`${v.message}|${req.socket.remoteAddress ?? ''}`))
      this.policy.log.warn(
        {
          path: (req.url ?? '').split('?')[0],
          remote: req.socket.remoteAddress,
          status: v.status,
          reason: v.message,
        },
        'tls: caller refused',
      );
    return v;
  }
}
