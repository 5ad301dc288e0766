// One health check of one member and what its outcome tells: the probe state the decision reads
// (the streaks, the server report), the answer a solo grant is counted from, the metrics, and
// whether the pair is worth a reconcile. When checks run is the prober's (prober.ts).
import type { Member } from '../api/pair.ts';
import { httpCheck, readStatus, statusCheck, tcpCheck } from './member-client.ts';
import type { MemberAuth, MemberCallTls, MemberStatus, ProbeResult } from './member-wire.ts';
import type { Metrics } from './metrics.ts';
import {
  recordServerReport,
  type LicenceReport,
  type ProbeHistory,
  type ServerReport,
} from './observation.ts';
import { ALONE_AFTER_SECONDS, needsAlone } from './serving.ts';

export interface ProbeTarget {
  pairKey: string;
  member: Member;
  podUID: string;
  podIP: string;
  type: 'HTTP' | 'TCP';
  port: number;
  path: string;
  periodMs: number;
  timeoutMs: number;
  failureThreshold: number;
  successThreshold: number;
  /** Reference protocol: the admin base URL (http(s)://podIP:adminPort) and its token. */
  statusUrl?: string;
  token?: string;
  /** The member serves TLS: how to reach it, and the identity it must prove. */
  tls?: MemberCallTls;
  /** The health check is the contract's default on the admin port: the status read stands for it (statusCheck). */
  statusIsHealthCheck?: boolean;
  /** The HTTP health check's port serves TLS. */
  httpsCheck?: boolean;
}

export function authOf(t: ProbeTarget): MemberAuth {
  return { token: t.token, tls: t.tls };
}

/**
 * Why a check wakes its pair: a failure (or evidence about one), a member that just became healthy
 * (it may be promoted), or another change the decision reads.
 */
export type ProbeSignal = 'failure' | 'healthy' | 'changed';

export interface MemberProbeState {
  history: ProbeHistory;
  server?: ServerReport;
  lastProbeAt?: number;
  lastResult?: ProbeResult;
  /** Taken over from status (probe-seed.ts) and not checked by this process yet. */
  fromStatus?: true;
  /** The last status answer's number and when it arrived: a solo grant is counted from it. */
  anchor?: { n: number; receivedAt: number };
}

/** The member's health check and, for the reference protocol, its status report. */
export async function check(t: ProbeTarget): Promise<{ result: ProbeResult; status?: MemberStatus }> {
  if (t.statusUrl && t.statusIsHealthCheck) return statusCheck(t.statusUrl, authOf(t), t.timeoutMs);
  const [result, status] = await Promise.all([
    t.type === 'HTTP'
      ? httpCheck(
          `${t.httpsCheck ? 'https' : 'http'}://${hostPort(t.podIP, t.port)}${t.path}`,
          t.timeoutMs,
          t.httpsCheck ? t.tls : undefined,
        )
      : tcpCheck(t.podIP, t.port, t.timeoutMs),
    t.statusUrl ? readStatus(t.statusUrl, authOf(t), t.timeoutMs) : Promise.resolve(undefined),
  ]);
  return status ? { result, status } : { result };
}

/**
 * What a status answer to a request sent at `sentAt`, read at `at`, tells: the server report the
 * decision reads, and the answer's number, from which a later grant is counted.
 */
export function answered(
  prev: MemberProbeState,
  status: MemberStatus | undefined,
  sentAt: number,
  at: number,
): Pick<MemberProbeState, 'server' | 'anchor'> {
  const server = recordServerReport(prev.server, reportOf(status, sentAt), at);
  // An answer without a status keeps the last anchor: a grant counted from it is only shorter.
  const anchor = status?.anchor !== undefined ? { n: status.anchor, receivedAt: at } : prev.anchor;
  return { ...(server ? { server } : {}), ...(anchor ? { anchor } : {}) };
}

/**
 * A live member without its standby's promise is granted once it has been so for
 * ALONE_AFTER_SECONDS: look again then rather than a whole period later.
 */
export function aloneRecheckAt(server: ServerReport | undefined, now: number): number | undefined {
  const withoutPeer =
    server?.serving?.right === 'none' ? (server.serving.withoutPeerSeconds ?? 0) : undefined;
  return withoutPeer !== undefined && withoutPeer < ALONE_AFTER_SECONDS
    ? now + (ALONE_AFTER_SECONDS - withoutPeer) * 1000 + 50
    : undefined;
}

export function recordCheckMetrics(
  metrics: Metrics,
  t: ProbeTarget,
  result: ProbeResult,
  server: ServerReport | undefined,
): void {
  const [ns, pair] = t.pairKey.split('/') as [string, string];
  metrics.probeDuration.observe({ result: result.ok ? 'success' : 'failure' }, result.latencyMs / 1000);
  metrics.memberProbeSeconds.set({ namespace: ns, pair, member: t.member }, result.latencyMs / 1000);
  // The last check and the last of each result: "last ok 1 s ago" without a status write per check.
  metrics.memberLastProbe.set(
    { namespace: ns, pair, member: t.member, result: result.ok ? 'success' : 'failure' },
    Date.now() / 1000,
  );
  if (server?.lagSeconds !== undefined)
    metrics.memberReplicationLag.set({ namespace: ns, pair, member: t.member }, server.lagSeconds);
}

/**
 * Whether a check's outcome wakes its pair, and why (Prober). `corroborating`: the check ran early
 * because the other member's failed, and its answer is evidence.
 */
export function signalOf(
  t: ProbeTarget,
  prev: MemberProbeState,
  next: { history: ProbeHistory; server: ServerReport | undefined; result: ProbeResult },
  corroborating: boolean,
): ProbeSignal | undefined {
  const { history, server, result } = next;
  const flipped = prev.lastResult !== undefined && prev.lastResult.ok !== result.ok;
  const first = prev.lastResult === undefined;
  const reachedFailure = history.consecutiveFailures === t.failureThreshold;
  const reachedSuccess = history.consecutiveSuccesses === t.successThreshold;
  const serverChanged = reportNews(prev.server, server);
  if (!(corroborating || flipped || first || reachedFailure || reachedSuccess || serverChanged))
    return undefined;
  return corroborating || !result.ok || reachedFailure ? 'failure' : reachedSuccess ? 'healthy' : 'changed';
}

/**
 * A member's report changed in what the decision or the serving rules read: worth a reconcile,
 * whichever read brought it (a check, or the status read held on a standby).
 */
export function reportNews(prev: ServerReport | undefined, next: ServerReport | undefined): boolean {
  return (
    (prev === undefined) !== (next === undefined) ||
    prev?.role !== next?.role ||
    prev?.epoch !== next?.epoch ||
    prev?.replication !== next?.replication ||
    prev?.serving?.right !== next?.serving?.right ||
    licenceNews(prev?.licence) !== licenceNews(next?.licence) ||
    needsAlone(prev?.replication, prev?.serving) !== needsAlone(next?.replication, next?.serving)
  );
}

/** What of a licence report the conditions say: a change of it is worth a reconcile. */
function licenceNews(l: LicenceReport | undefined): string {
  return l ? `${l.state}|${l.code}|${l.lastErrorCode}|${l.lastError}|${l.firstExpiry?.at}` : '';
}

/** The report the decision reads (the answer's anchor stays with the prober). */
function reportOf(
  status: MemberStatus | undefined,
  sentAt: number,
): Omit<ServerReport, 'inSyncSince'> | undefined {
  if (!status) return undefined;
  const { anchor: _anchor, ...report } = status;
  return { ...report, sentAt };
}

function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}
