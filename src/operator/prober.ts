import type { Logger } from 'pino';
import { MEMBERS, otherMember, type Member } from '../api/pair.ts';
import type { Metrics } from './metrics.ts';
import { EMPTY_PROBE_HISTORY, recordProbe } from './observation.ts';
import {
  aloneRecheckAt,
  answered,
  check,
  recordCheckMetrics,
  signalOf,
  type MemberProbeState,
  type ProbeSignal,
  type ProbeTarget,
} from './probe-check.ts';
import { SoloGrants, type GrantedEntry, type SoloGrant } from './solo-grants.ts';
import { watchStandbys, type WatchContext, type WatchedEntry } from './standby-watch.ts';

interface Entry extends GrantedEntry, WatchedEntry {
  nextDue: number;
  inFlight: boolean;
  /** Checked early because the other member's check failed: its answer is evidence, reconcile on it. */
  corroborating?: boolean;
}

/**
 * The operator's own periodic health check of every member (the "redundant server querying the
 * primary"). One scheduler for all members: each member is due every periodSeconds, first at a
 * random offset so thousands of members spread over the period; at most `concurrency` checks run
 * at once. Results that matter to the failover decision (a streak reaching a threshold, a flip, a
 * role or replication change) wake the pair's reconcile; failures wake it as urgent work.
 */
export class Prober {
  private readonly entries = new Map<string, Entry>();
  private readonly grants: SoloGrants;
  private readonly watch: WatchContext;
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
    const entry = (pairKey: string, member: Member) => this.entries.get(`${pairKey}/${member}`);
    const now = () => this.now();
    this.grants = new SoloGrants({ entry, now, isLeader: opts.isLeader });
    this.watch = {
      entries: () => this.entries.values(),
      entry,
      now,
      running: () => this.timer !== undefined,
      confirm: (pairKey, member, timeoutMs) => this.confirm(pairKey, member, timeoutMs),
      onChange: (pairKey, signal) => this.opts.onChange(pairKey, signal),
    };
  }

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }

  start(): void {
    if (this.timer) return;
    this.grants.started(this.now());
    this.timer = setInterval(() => this.tick(), 50);
  }

  /** Send (or stop sending) solo grants to a pair's live member (solo-grants.ts). */
  setGrant(pairKey: string, grant: SoloGrant | undefined): void {
    this.grants.set(pairKey, grant);
  }

  /** Until when a solo grant sent to the pair may still be valid, by this process's clock. */
  grantsBindUntil(pairKey: string, grantMs: number, inherited: boolean): number {
    return this.grants.bindsUntil(pairKey, grantMs, inherited);
  }

  /** R6: tell the member its grants are over; false when it could not be done now. */
  endGrants(pairKey: string, member: Member, epoch: number): Promise<boolean> {
    return this.grants.end(pairKey, member, epoch);
  }

  /** A grant of `ms` for a promotion of `member`, anchored at its last status answer. */
  promotionGrant(pairKey: string, member: Member, ms: number): { anchor: number; ms: number } | undefined {
    return this.grants.promotionGrant(pairKey, member, ms);
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
    this.grants.remove(pairKey);
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
    if (this.opts.watchStandbys) watchStandbys(this.watch, now);
    for (const e of this.entries.values()) {
      // Full slots end the checks of this tick, not the grants below: a pair serving alone is
      // granted every second however many members are hung (prober-grants.test.ts).
      if (this.inFlight >= this.opts.concurrency) break;
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
    this.grants.renew(now);
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
    const answer = t.statusUrl ? answered(prev, status, sentAt, this.now()) : {};
    const server = answer.server;
    e.state = { history, ...answer, lastProbeAt: now, lastResult: result };
    const recheckAt = aloneRecheckAt(server, now);
    if (recheckAt !== undefined) e.nextDue = Math.min(e.nextDue, recheckAt);
    recordCheckMetrics(this.opts.metrics, t, result, server);

    // A failed check: read the other member now rather than at its next period, so the decision
    // has the standby's fresh view of the live member (assess.ts: standbyLostLive).
    if (!result.ok) this.checkSoon(t.pairKey, otherMember(t.member));
    const corroborating = e.corroborating === true;
    e.corroborating = false;

    const signal = signalOf(t, prev, { history, server, result }, corroborating);
    if (signal) this.opts.onChange(t.pairKey, signal);
  }

  private checkSoon(pairKey: string, member: Member): void {
    const e = this.entries.get(`${pairKey}/${member}`);
    if (!e || e.inFlight || !e.target.statusUrl) return;
    e.corroborating = true;
    e.nextDue = Math.min(e.nextDue, this.now());
  }
}
