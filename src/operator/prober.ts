import type { Logger } from 'pino';
import {
  EMPTY_PROBE_HISTORY,
  recordProbe,
  recordServerReport,
  type LicenceReport,
  type ProbeHistory,
  type ServerReport,
} from './observation.ts';
import {
  sendGrant,
  httpCheck,
  readStatus,
  readStatusOnPeerSilence,
  statusCheck,
  tcpCheck,
  type MemberAuth,
  type MemberCallTls,
  type MemberStatus,
  type ProbeResult,
} from './member-client.ts';
import { confirmTimeoutMs, EARLY_SILENT_MS, nextSilenceAsk, SILENCE_WAIT_MS } from './detection.ts';
import type { Metrics } from './metrics.ts';
import { MEMBERS, otherMember, type Member } from '../api/pair.ts';
import { ALONE_AFTER_SECONDS, GRANT_EVERY_MS, grantBindsUntil, needsAlone } from './serving.ts';

/**
 * The operator's own periodic health check of every member (the "redundant server querying the
 * primary"). One scheduler for all members: each member is due every periodSeconds, first at a
 * random offset so thousands of members spread over the period; at most `concurrency` checks run
 * at once. Results that matter to the failover decision (a streak reaching a threshold, a flip, a
 * role or replication change) wake the pair's reconcile; failures wake it as urgent work.
 */
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

function authOf(t: ProbeTarget): MemberAuth {
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

/** Solo grants to send a pair's live member every GRANT_EVERY_MS, apart from its health checks (serving.ts). */
export interface SoloGrant {
  member: Member;
  epoch: number;
  ms: number;
}

interface Entry {
  target: ProbeTarget;
  state: MemberProbeState;
  nextDue: number;
  inFlight: boolean;
  /** a solo grant renewal between health checks (not a health check: no streak counts) */
  nextGrantAt?: number;
  grantInFlight?: boolean;
  /** the highest answer a grant was anchored at (an end of the grants must name one as late) */
  lastGrantAnchor?: number;
  /** Checked early because the other member's check failed: its answer is evidence, reconcile on it. */
  corroborating?: boolean;
  /** a status read held open on this standby until it loses its active (watchStandbys) */
  watching?: boolean;
  /** no such read before then (ms) */
  watchAfter?: number;
  /** the silence to ask for in the next read (detection.ts: nextSilenceAsk) */
  silenceAsk?: number;
}

export class Prober {
  private readonly entries = new Map<string, Entry>();
  private readonly grants = new Map<string, SoloGrant>();
  /** per pair: until when a grant this process sent may still be valid (operator clock) */
  private readonly bindUntil = new Map<string, number>();
  /** pairs whose grants this process ended (R6): a predecessor's no longer bind either */
  private readonly ended = new Set<string>();
  /** when this process started probing (became leader): a predecessor's grants are counted from it */
  private startedAt = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  private readonly opts: {
    concurrency: number;
    /** hold a status read on each standby (detection.ts) */
    watchStandbys?: boolean;
    log: Logger;
    metrics: Metrics;
    onChange: (pairKey: string, signal: ProbeSignal) => void;
    now?: () => number;
    /** grants go out only while this is true (the same leadership check as every API write) */
    isLeader?: () => boolean;
  };

  constructor(opts: Prober['opts']) {
    this.opts = opts;
  }

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }

  start(): void {
    if (this.timer) return;
    this.startedAt = this.now();
    this.timer = setInterval(() => this.tick(), 50);
  }

  /**
   * Send (or stop sending) solo grants to a pair's live member. The caller sets a grant only
   * after status.servingAlone is written (R3 of docs/reliability.md); the first goes out now.
   */
  setGrant(pairKey: string, grant: SoloGrant | undefined): void {
    if (!grant) {
      this.grants.delete(pairKey);
      return;
    }
    const prev = this.grants.get(pairKey);
    this.grants.set(pairKey, grant);
    if (prev?.member !== grant.member || prev.epoch !== grant.epoch) {
      const e = this.entries.get(`${pairKey}/${grant.member}`);
      if (e) e.nextGrantAt = this.now();
    }
  }

  /**
   * Until when a solo grant sent to the pair may still be valid, by this process's clock: its
   * own grants' bounds, and, when `inherited` (the pair was serving alone when this process
   * first saw it), a predecessor's, counted from when this process started probing.
   */
  grantsBindUntil(pairKey: string, grantMs: number, inherited: boolean): number {
    const own = this.bindUntil.get(pairKey) ?? -Infinity;
    // Ended grants void a predecessor's too (theirs were anchored at earlier answers).
    return inherited && !this.ended.has(pairKey)
      ? Math.max(own, grantBindsUntil(this.startedAt, grantMs))
      : own;
  }

  /**
   * R6: tell the member its grants are over, anchored at the latest answer any grant named; once
   * it has answered, no grant sent before binds, and what still binds is only that the decision
   * reads a report sent after the end (the end's own answer is one). False when it could not be
   * done now (still granting, no answer to anchor at, not the leader, no answer back).
   */
  async endGrants(pairKey: string, member: Member, epoch: number): Promise<boolean> {
    const e = this.entries.get(`${pairKey}/${member}`);
    const t = e?.target;
    const n = Math.max(e?.state.anchor?.n ?? 0, e?.lastGrantAnchor ?? 0);
    if (this.grants.has(pairKey) || !e || !t?.statusUrl || n === 0) return false;
    if (this.opts.isLeader && !this.opts.isLeader()) return false;
    const sentAt = this.now();
    const { accepted, status } = await sendGrant(t.statusUrl, authOf(t), t.timeoutMs, {
      epoch,
      anchor: n,
      ms: 0,
    });
    if (!accepted || !status || this.entries.get(`${pairKey}/${member}`) !== e || this.grants.has(pairKey))
      return false;
    e.state = { ...e.state, ...this.answered(e.state, status, sentAt) };
    this.bindUntil.set(pairKey, sentAt);
    this.ended.add(pairKey);
    return true;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * The targets of one pair (0–2). A new pod UID or IP starts a fresh history, or the state
   * `seed` gives for that member (what a previous operator recorded, probe-seed.ts).
   */
  setTargets(
    pairKey: string,
    targets: ProbeTarget[],
    seed: (member: Member) => MemberProbeState | undefined = () => undefined,
  ): void {
    for (const member of MEMBERS) {
      const key = `${pairKey}/${member}`;
      const target = targets.find((t) => t.member === member);
      const existing = this.entries.get(key);
      if (!target) {
        this.entries.delete(key);
        continue;
      }
      if (existing && existing.target.podUID === target.podUID && existing.target.podIP === target.podIP) {
        existing.target = target;
        continue;
      }
      this.entries.set(key, {
        target,
        state: seed(member) ?? { history: EMPTY_PROBE_HISTORY },
        // Spread first checks over the period so a thousand new members do not probe in one burst.
        nextDue: this.now() + Math.random() * Math.min(target.periodMs, 1000),
        inFlight: false,
      });
    }
  }

  removePair(pairKey: string): void {
    this.entries.delete(`${pairKey}/primary`);
    this.entries.delete(`${pairKey}/redundant`);
    this.grants.delete(pairKey);
    this.bindUntil.delete(pairKey);
    this.ended.delete(pairKey);
  }

  state(pairKey: string, member: Member, podUID: string | undefined): MemberProbeState {
    const e = this.entries.get(`${pairKey}/${member}`);
    if (!e || e.target.podUID !== podUID) return { history: EMPTY_PROBE_HISTORY };
    return e.state;
  }

  /** After a promote or demote the last server report is stale: forget it until the next check. */
  forgetServerReport(pairKey: string, member: Member): void {
    const e = this.entries.get(`${pairKey}/${member}`);
    if (e) {
      delete e.state.server;
      e.nextDue = this.now();
    }
  }

  private tick(): void {
    const now = this.now();
    if (this.opts.watchStandbys) this.watchStandbys(now);
    for (const e of this.entries.values()) {
      if (this.inFlight >= this.opts.concurrency) return;
      if (e.inFlight || e.nextDue > now) continue;
      e.inFlight = true;
      this.inFlight++;
      // Schedule from the due time, not from completion: a slow member does not drift.
      e.nextDue = Math.max(e.nextDue + e.target.periodMs, now);
      void this.probe(e).finally(() => {
        e.inFlight = false;
        this.inFlight--;
      });
    }
    this.renewGrants(now);
  }

  /**
   * Solo grants are renewed every GRANT_EVERY_MS, whatever the health-check period, so that a
   * grant is short (the standby becomes promotable soon after it has resynced). A renewal is not
   * a health check: it does not count towards the thresholds, only refreshes the anchor and report.
   */
  private renewGrants(now: number): void {
    for (const [pairKey, g] of this.grants) {
      const e = this.entries.get(`${pairKey}/${g.member}`);
      if (!e || e.inFlight || e.grantInFlight || (e.nextGrantAt ?? -Infinity) > now) continue;
      const grant = this.grantFor(e);
      const t = e.target;
      if (!grant || !t.statusUrl) continue;
      e.nextGrantAt = now + GRANT_EVERY_MS;
      e.grantInFlight = true;
      void sendGrant(t.statusUrl, authOf(t), t.timeoutMs, grant)
        .then(({ status }) => {
          if (this.entries.get(`${t.pairKey}/${t.member}`) !== e || !status) return;
          e.state = { ...e.state, ...this.answered(e.state, status, now) };
        })
        .finally(() => (e.grantInFlight = false));
    }
  }

  /** The grant to send now, if any; records its bound before it is sent. */
  private grantFor(e: Entry): { epoch: number; anchor: number; ms: number } | undefined {
    const g = this.grants.get(e.target.pairKey);
    if (!g || g.member !== e.target.member) return undefined;
    const a = this.anchored(e, g.ms);
    return a && { epoch: g.epoch, ...a };
  }

  /**
   * A grant of `ms` for a promotion of `member` (serving alone from its first moment), anchored
   * at its last status answer; undefined when there is no recent one.
   */
  promotionGrant(pairKey: string, member: Member, ms: number): { anchor: number; ms: number } | undefined {
    const e = this.entries.get(`${pairKey}/${member}`);
    return e ? this.anchored(e, ms) : undefined;
  }

  private anchored(e: Entry, ms: number): { anchor: number; ms: number } | undefined {
    const anchor = e.state.anchor;
    if (!anchor || !e.target.statusUrl) return undefined;
    if (this.opts.isLeader && !this.opts.isLeader()) return undefined;
    // An old anchor buys little of the grant: check first, and grant with the next check.
    if (this.now() - anchor.receivedAt > ms / 2) return undefined;
    const key = e.target.pairKey;
    e.lastGrantAnchor = Math.max(e.lastGrantAnchor ?? 0, anchor.n);
    this.bindUntil.set(
      key,
      Math.max(this.bindUntil.get(key) ?? -Infinity, grantBindsUntil(anchor.receivedAt, ms)),
    );
    return { anchor: anchor.n, ms };
  }

  /**
   * What a status answer to a request sent at `sentAt` tells: the server report the decision
   * reads, and the answer's number, from which a later grant is counted.
   */
  private answered(
    prev: MemberProbeState,
    status: MemberStatus | undefined,
    sentAt: number,
  ): Pick<MemberProbeState, 'server' | 'anchor'> {
    const at = this.now();
    const server = recordServerReport(prev.server, reportOf(status, sentAt), at);
    // An answer without a status keeps the last anchor: a grant counted from it is only shorter.
    const anchor = status?.anchor !== undefined ? { n: status.anchor, receivedAt: at } : prev.anchor;
    return { ...(server ? { server } : {}), ...(anchor ? { anchor } : {}) };
  }

  /**
   * One status read held open on each pair's standby, answered as soon as it stops hearing its
   * active (detection.ts): the live member is then checked at once, with the rest of the
   * timeout, instead of at its next period.
   */
  private watchStandbys(now: number): void {
    for (const e of this.entries.values()) {
      const t = e.target;
      if (e.watching || (e.watchAfter ?? -Infinity) > now || !t.statusUrl) continue;
      // Only a standby that has been following its active, in sync and hearing it: one just
      // connected (after a promotion) or catching up has gaps that are not a fault, and the
      // confirming check would read the new active in the moment its standby catches up.
      // Asked again for the decision's silence after the early one: it no longer hears it.
      const r = e.state.server;
      const midway = (e.silenceAsk ?? EARLY_SILENT_MS) > EARLY_SILENT_MS;
      if (r?.role !== 'standby' || (!midway && !followsItsActive(r))) continue;
      if (this.entries.get(`${t.pairKey}/${otherMember(t.member)}`)?.state.server?.role !== 'active')
        continue;
      e.watching = true;
      void this.watch(e, now, e.silenceAsk ?? EARLY_SILENT_MS).finally(() => (e.watching = false));
    }
  }

  private async watch(e: Entry, sentAt: number, silentMs: number): Promise<void> {
    const t = e.target;
    const status = await readStatusOnPeerSilence(
      t.statusUrl!,
      authOf(t),
      silentMs,
      SILENCE_WAIT_MS,
      t.timeoutMs,
    );
    if (this.entries.get(`${t.pairKey}/${t.member}`) !== e || !this.timer) return;
    const now = this.now();
    const silent = status?.role === 'standby' && (status.peerLastSeenSeconds ?? -1) * 1000 >= silentMs;
    const next = silent ? nextSilenceAsk(silentMs) : EARLY_SILENT_MS;
    if (next !== undefined) e.silenceAsk = next;
    else delete e.silenceAsk;
    // Asked again at once only to hear the decision's silence; otherwise a period later: the
    // standby stays silent until the pair moves, and a member that answered without waiting (an
    // error, a server that does not know the wait) must not be asked in a loop.
    const waited = status !== undefined && now - sentAt >= SILENCE_WAIT_MS / 2;
    if (!(silent && next !== undefined) && !(waited && !silent))
      e.watchAfter = now + Math.max(t.periodMs, 1000);
    if (!status) return;
    e.state = { ...e.state, ...this.answered(e.state, status, sentAt) };
    if (!silent) return;
    const live = otherMember(t.member);
    if (silentMs === EARLY_SILENT_MS) this.confirm(t.pairKey, live, confirmTimeoutMs(t.timeoutMs));
    // The decision reads the new report with the live member's failed check (assess.ts: PeerLost);
    // without one there is nothing to decide (the standby may be the one cut off).
    else if ((this.entries.get(`${t.pairKey}/${live}`)?.state.history.consecutiveFailures ?? 0) > 0)
      this.opts.onChange(t.pairKey, 'failure');
  }

  /** The standby lost the live member: check it now, with `timeoutMs` (a check in flight will tell). */
  private confirm(pairKey: string, member: Member, timeoutMs: number): void {
    const e = this.entries.get(`${pairKey}/${member}`);
    if (!e || e.inFlight) return;
    e.inFlight = true;
    this.inFlight++;
    void this.probe(e, timeoutMs).finally(() => {
      e.inFlight = false;
      this.inFlight--;
    });
  }

  private async probe(e: Entry, timeoutMs = e.target.timeoutMs): Promise<void> {
    const t = e.target;
    const sentAt = this.now();
    const { result, status } = await check({ ...t, timeoutMs });
    // The entry may have been replaced (new pod) while the check ran.
    if (this.entries.get(`${t.pairKey}/${t.member}`) !== e) return;
    const now = this.now();
    const prev = e.state;
    const history = recordProbe(prev.history, result.ok, now);
    const answer = t.statusUrl ? this.answered(prev, status, sentAt) : {};
    const server = answer.server;
    e.state = { history, ...answer, lastProbeAt: now, lastResult: result };
    // A live member without its standby's promise is granted once it has been so for
    // ALONE_AFTER_SECONDS: look again then rather than a whole period later.
    const withoutPeer =
      server?.serving?.right === 'none' ? (server.serving.withoutPeerSeconds ?? 0) : undefined;
    if (withoutPeer !== undefined && withoutPeer < ALONE_AFTER_SECONDS)
      e.nextDue = Math.min(e.nextDue, now + (ALONE_AFTER_SECONDS - withoutPeer) * 1000 + 50);
    const [ns, pair] = t.pairKey.split('/') as [string, string];
    this.opts.metrics.probeDuration.observe(
      { result: result.ok ? 'success' : 'failure' },
      result.latencyMs / 1000,
    );
    this.opts.metrics.memberProbeSeconds.set(
      { namespace: ns, pair, member: t.member },
      result.latencyMs / 1000,
    );
    // The last check and the last of each result: "last ok 1 s ago" without a status write per check.
    this.opts.metrics.memberLastProbe.set(
      { namespace: ns, pair, member: t.member, result: result.ok ? 'success' : 'failure' },
      Date.now() / 1000,
    );
    if (server?.lagSeconds !== undefined)
      this.opts.metrics.memberReplicationLag.set(
        { namespace: ns, pair, member: t.member },
        server.lagSeconds,
      );

    // A failed check: read the other member now rather than at its next period, so the decision
    // has the standby's fresh view of the live member (assess.ts: standbyLostLive).
    if (!result.ok) this.checkSoon(t.pairKey, otherMember(t.member));
    const corroborating = e.corroborating === true;
    e.corroborating = false;

    const flipped = prev.lastResult !== undefined && prev.lastResult.ok !== result.ok;
    const first = prev.lastResult === undefined;
    const reachedFailure = history.consecutiveFailures === t.failureThreshold;
    const reachedSuccess = history.consecutiveSuccesses === t.successThreshold;
    const serverChanged =
      (prev.server === undefined) !== (server === undefined) ||
      prev.server?.role !== server?.role ||
      prev.server?.epoch !== server?.epoch ||
      prev.server?.replication !== server?.replication ||
      prev.server?.serving?.right !== server?.serving?.right ||
      licenceNews(prev.server?.licence) !== licenceNews(server?.licence) ||
      needsAlone(prev.server?.replication, prev.server?.serving) !==
        needsAlone(server?.replication, server?.serving);
    if (!(corroborating || flipped || first || reachedFailure || reachedSuccess || serverChanged)) return;
    this.opts.onChange(
      t.pairKey,
      corroborating || !result.ok || reachedFailure ? 'failure' : reachedSuccess ? 'healthy' : 'changed',
    );
  }

  private checkSoon(pairKey: string, member: Member): void {
    const e = this.entries.get(`${pairKey}/${member}`);
    if (!e || e.inFlight || !e.target.statusUrl) return;
    e.corroborating = true;
    e.nextDue = Math.min(e.nextDue, this.now());
  }
}

/** The member's health check and, for the reference protocol, its status report. */
async function check(t: ProbeTarget): Promise<{ result: ProbeResult; status?: MemberStatus }> {
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

/** In sync and hearing the active, in its last report (detection.ts). */
function followsItsActive(r: ServerReport): boolean {
  return r.replication === 'in-sync' && (r.peerLastSeenSeconds ?? Infinity) * 1000 < EARLY_SILENT_MS;
}
