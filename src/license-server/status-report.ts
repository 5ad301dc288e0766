// The member's answer to GET /v1/status and its readiness (/readyz), read from what its parts
// report: role and epoch, the licence in force, replication, the serving rights, the ledger.
import type { Role } from './admin-answers.ts';
import type { ServerConfig } from './config.ts';
import type { LicenceWatcher } from './licence-watcher.ts';
import type { MemberReplication } from './member-replication.ts';
import type { StatusJson } from './protocol.ts';
import type { ServingGuard } from './serving.ts';

export type StatusSources = {
  config: Pick<ServerConfig, 'member' | 'pairId' | 'advertiseUrl'>;
  role: Role;
  epoch: number;
  licence: Pick<LicenceWatcher, 'valid' | 'message' | 'json'>;
  replication: Pick<
    MemberReplication,
    'lag' | 'state' | 'mode' | 'peerLastSeenSeconds' | 'clockSkewSeconds' | 'knownActiveSeq'
  >;
  guard: Pick<ServingGuard, 'status'>;
  ledger: { readonly seq: number; readonly leaseCount: number };
};

/**
 * Ready: it can serve licences in its role (a standby that could not serve once promoted is not).
 * A standby cut off from its active can, when it holds everything that active had announced (the
 * member's own test before a promotion): reporting NotReady the moment its active dies had the
 * kubelet mark it NotReady while the operator promoted it, which read as the new live member failing.
 */
export function readiness(s: Pick<StatusSources, 'role' | 'licence' | 'replication' | 'ledger'>): {
  ready: boolean;
  reason: string;
} {
  if (!s.licence.valid)
    return { ready: false, reason: `${s.role} without a valid licence: ${s.licence.message}` };
  if (s.role === 'active') return { ready: true, reason: 'active with a valid licence' };
  const st = s.replication.state();
  if (st === 'in-sync') return { ready: true, reason: 'standby following the active' };
  const known = s.replication.knownActiveSeq;
  if (st === 'disconnected' && known !== undefined && s.ledger.seq >= known)
    return { ready: true, reason: 'standby cut off from its active, holding everything it had announced' };
  return { ready: false, reason: `standby, replication ${st}` };
}

export function statusReport(s: StatusSources): StatusJson {
  const lag = s.replication.lag();
  const skew = s.replication.clockSkewSeconds();
  const peerSeen = s.replication.peerLastSeenSeconds();
  return {
    member: s.config.member,
    pairId: s.config.pairId,
    role: s.role,
    epoch: s.epoch,
    ready: readiness(s).ready,
    license: s.licence.json(),
    replication: {
      state: s.replication.state(),
      mode: s.replication.mode(),
      lastSeq: s.ledger.seq,
      lagEntries: lag.entries,
      lagSeconds: round3(lag.seconds),
      peerLastSeenSeconds: peerSeen === null ? null : round3(peerSeen),
      clockSkewSeconds: skew === null ? null : round3(skew),
    },
    serving: s.guard.status(),
    time: new Date().toISOString(),
    activeLeases: s.ledger.leaseCount,
    advertiseUrl: s.config.advertiseUrl,
  };
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;
