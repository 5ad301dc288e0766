// A model of a pair under partitions, message delays, paused processes, clock-rate drift and
// operator restarts, driven by the real serving rules (src/license-server/serving-rights.ts for
// the members, src/operator/serving.ts for the operator). It checks the invariants of
// docs/reliability.md at every step:
//   I1  never two members holding a serving right at the same instant;
//   I2  a member that becomes active has every change acknowledged before (it was on it, or the
//       operator did not promote it).
// Time is real ms; each party reads its own clock (rate within ±2 %, any offset). A person may
// ask for the member not promotable to be promoted accepting data loss
// (src/operator/data-loss-promotion.ts): I1 must hold across it, and I2 is relaxed to what the
// request accepts (only what was acknowledged alone may be missing from the promoted member).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AnchorBook,
  becameActive,
  granted,
  peerAcked,
  promised,
  promotionWaitMs,
  rightAt,
  promiseLengthMs,
  standbyStarted,
  withoutPeerMs,
} from '../../src/license-server/serving-rights.ts';
import type { ActiveRights, RightsPolicy, StandbyPromise } from '../../src/license-server/serving-rights.ts';
import { decideServing, grantBindsUntil, soloGrantMs } from '../../src/operator/serving.ts';
import { dataLossRequestValue, judgeDataLossPromotion } from '../../src/operator/data-loss-promotion.ts';
import type { ServingAlone } from '../../src/operator/serving.ts';

type Name = 'primary' | 'redundant';
type Party = Name | 'operator';
type Link = 'members' | 'op-primary' | 'op-redundant';
const NAMES: Name[] = ['primary', 'redundant'];
const other = (n: Name): Name => (n === 'primary' ? 'redundant' : 'primary');
const linkOf = (a: Party, b: Party): Link =>
  a !== 'operator' && b !== 'operator'
    ? 'members'
    : a === 'primary' || b === 'primary'
      ? 'op-primary'
      : 'op-redundant';

const POLICY: RightsPolicy = { paired: true, peerPromiseMs: 1000 };
const HEARTBEAT_MS = 250;
const PROBE_MS = 1000; // healthCheck.periodSeconds = 1
const PROBE_TIMEOUT_MS = 500;
const FAILURE_THRESHOLD = 3;
const GRANT_MS = soloGrantMs(1);
/** entries a standby applies per heartbeat when it is behind (a resync takes a while) */
const CATCH_UP_PER_HEARTBEAT = 40;
const STEP_MS = 5;

type Msg =
  | { kind: 'hb'; mark: number; epoch: number; lastSeq: number; p: number }
  | { kind: 'ack'; mark: number; epoch: number; seq: number }
  | { kind: 'probe'; id: number; grant?: { epoch: number; anchor: number; ms: number } }
  /** R6: the operator ends its grants (a grant of 0 ms anchored at its latest answer) */
  | { kind: 'end'; id: number; epoch: number; anchor: number }
  | {
      kind: 'answer';
      id: number;
      role: 'active' | 'standby';
      epoch: number;
      right: string;
      withoutPeerSeconds: number;
      ackedSeq: number;
      aloneSeq: number;
      inSync: boolean;
      /** (standby) ms since it last heard its active */
      silentMs: number;
      anchor: number;
      /** the answer to end request `ended` (the grants are over) */
      ended?: number;
    }
  /** a solo grant sent between checks (Prober.setGrant sends the first one at once) */
  | { kind: 'grant'; epoch: number; anchor: number; ms: number }
  | { kind: 'promote'; epoch: number; grant?: { anchor: number; ms: number }; acceptLoss?: true }
  | { kind: 'demote'; epoch: number };
type InFlight = { at: number; from: Party; to: Party; msg: Msg };

/** status.servingAlone as the API server keeps it: `since` in whole seconds (status-builder.ts). */
const stored = (a: ServingAlone | undefined): ServingAlone | undefined =>
  a && { ...a, since: Math.floor(a.since / 1000) * 1000 };

type Clock = { rate: number; offset: number };
const local = (c: Clock, t: number): number => c.offset + t * c.rate;

interface MemberState {
  name: Name;
  clock: Clock;
  role: 'active' | 'standby' | 'promoting';
  epoch: number;
  rights: ActiveRights | undefined;
  /** this member's own P (LS_PEER_PROMISE_MS) */
  policy: RightsPolicy;
  promise: StandbyPromise;
  hbMarks: AnchorBook;
  statusAnchors: AnchorBook;
  nextHbAt: number;
  promoteAt: number;
  promoteGrant: { anchor: number; ms: number } | undefined;
  /** promoted by a data-loss request: what was acknowledged alone may be missing */
  acceptLoss: boolean;
  applied: number;
  lastHbAt: number;
  lastHbSeq: number;
  ackedSeq: number;
  aloneSeq: number;
  pending: number[];
}

type Answer = Extract<Msg, { kind: 'answer' }> & { at: number; sentAt: number };

interface OperatorState {
  clock: Clock;
  up: boolean;
  startedAt: number;
  /** status.servingAlone was set when this operator started: a predecessor's grant may be out */
  inherited: boolean;
  bind: number;
  nextProbeAt: number;
  probeId: Record<Name, number>;
  probeSentAt: Record<Name, number>;
  answered: Record<Name, boolean>;
  misses: Record<Name, number>;
  answers: Partial<Record<Name, Answer>>;
  grant: { member: Name; epoch: number } | undefined;
  /** the end of the grants in flight (R6), and when it was sent */
  end: { id: number; member: Name; sentAt: number } | undefined;
  // status, in the API server: survives a restart
  live: Name;
  epoch: number;
  alone: ServingAlone | undefined;
  /** the lpo.dev/promote-accepting-data-loss value not handled yet (an annotation: survives a restart) */
  request: string | undefined;
}

type Cut = { link: Link; from: number; to: number };
type Pause = { member: Name; from: number; to: number };
type Restart = { at: number; downMs: number; offset: number; rate: number };
export interface Scenario {
  endMs: number;
  cuts: Cut[];
  pauses: Pause[];
  restarts: Restart[];
  rates: [number, number, number];
  delays: number[];
  writeEveryMs: number;
  /**
   * Each member's own P (primary, redundant), 1000 ms each when not given: members that disagree
   * are a pair whose health-check timeout changed, rolled out one member at a time.
   */
  promiseMs?: [number, number];
  /** when a person writes a data-loss promotion request for the episode then current, ms */
  override?: number;
  /**
   * A planned removal of the standby of the moment: from `at` its pod is deleting (the operator
   * sees it), and it exits `exitAfterMs` later (the preStop sleep), for good.
   */
  standbyLeaves?: { at: number; exitAfterMs: number };
}

interface Outcome {
  violations: string[];
  /** what happened, for the failure message */
  trace: string[];
  failovers: number;
  grantsUsed: number;
  /** ends of the grants answered (R6) */
  grantsEnded: number;
  acknowledged: Record<'peer' | 'alone', number>;
  refusedSteps: number;
  /** promotions accepting data loss carried out */
  dataLossPromotions: number;
}

function run(sc: Scenario): Outcome {
  let delayIndex = 0;
  const delay = () => sc.delays[delayIndex++ % sc.delays.length] as number;
  const cut = (link: Link, t: number) => sc.cuts.some((c) => c.link === link && t >= c.from && t < c.to);
  /** the member whose pod is deleting (Scenario.standbyLeaves), and when it exits */
  let leaver: { name: Name; exitAt: number } | undefined;
  const exited = (n: Name, t: number) => leaver !== undefined && leaver.name === n && t >= leaver.exitAt;
  const paused = (n: Name, t: number) =>
    exited(n, t) || sc.pauses.some((p) => p.member === n && t >= p.from && t < p.to);
  const net: InFlight[] = [];
  const out: Outcome = {
    violations: [],
    trace: [],
    failovers: 0,
    grantsUsed: 0,
    grantsEnded: 0,
    acknowledged: { peer: 0, alone: 0 },
    refusedSteps: 0,
    dataLossPromotions: 0,
  };
  let maxAcknowledged = 0;
  /** what was acknowledged with the standby's acknowledgement: a data-loss promotion keeps it */
  let maxPeerAcknowledged = 0;
  let t = 0;
  // every connection delivers in order (TCP): a message never overtakes an earlier one
  const lastArrival = new Map<string, number>();
  const send = (from: Party, to: Party, msg: Msg) => {
    if (cut(linkOf(from, to), t)) return;
    const key = `${from}>${to}`;
    const at = Math.max(t + delay(), lastArrival.get(key) ?? 0);
    lastArrival.set(key, at);
    net.push({ at, from, to, msg });
  };

  const member = (name: Name, rate: number): MemberState => {
    const clock = { rate, offset: name === 'primary' ? 0 : 12_345 };
    const policy = { ...POLICY, peerPromiseMs: sc.promiseMs?.[name === 'primary' ? 0 : 1] ?? 1000 };
    return {
      name,
      clock,
      role: 'standby',
      epoch: 1,
      rights: undefined,
      policy,
      promise: standbyStarted(local(clock, 0), policy),
      hbMarks: new AnchorBook(256),
      statusAnchors: new AnchorBook(256),
      nextHbAt: 0,
      promoteAt: Infinity,
      promoteGrant: undefined,
      acceptLoss: false,
      applied: 1,
      lastHbAt: -Infinity,
      lastHbSeq: 0,
      ackedSeq: 0,
      aloneSeq: 0,
      pending: [],
    };
  };
  const m: Record<Name, MemberState> = {
    primary: member('primary', sc.rates[0]),
    redundant: member('redundant', sc.rates[1]),
  };
  // the primary starts active in epoch 1 with the standby following
  m.primary.role = 'active';
  m.primary.rights = becameActive(1, local(m.primary.clock, 0));
  m.primary.aloneSeq = 1;
  const op: OperatorState = {
    clock: { rate: sc.rates[2], offset: 777 },
    up: true,
    startedAt: 777,
    inherited: false,
    bind: -Infinity,
    nextProbeAt: 777,
    probeId: { primary: 0, redundant: 0 },
    probeSentAt: { primary: 0, redundant: 0 },
    answered: { primary: true, redundant: true },
    misses: { primary: 0, redundant: 0 },
    answers: {},
    grant: undefined,
    end: undefined,
    live: 'primary',
    epoch: 1,
    alone: undefined,
    request: undefined,
  };
  let requestWritten = false;

  const holds = (x: MemberState): 'peer' | 'alone' | undefined => {
    if (x.role !== 'active' || !x.rights) return undefined;
    const r = rightAt(x.rights, local(x.clock, t), x.policy);
    return r === 'peer' || r === 'alone' ? r : undefined;
  };
  const acknowledge = (x: MemberState, seq: number, by: 'peer' | 'alone') => {
    out.acknowledged[by] += 1;
    if (by === 'alone') x.aloneSeq = Math.max(x.aloneSeq, seq);
    else maxPeerAcknowledged = Math.max(maxPeerAcknowledged, seq);
    maxAcknowledged = Math.max(maxAcknowledged, seq);
  };
  const stepDown = (x: MemberState, epoch: number) => {
    x.epoch = Math.max(x.epoch, epoch);
    x.role = 'standby';
    x.rights = undefined;
    x.pending = [];
    x.promoteAt = Infinity;
  };

  const memberReceives = (x: MemberState, from: Party, msg: Msg) => {
    const now = local(x.clock, t);
    switch (msg.kind) {
      case 'hb':
        if (x.role === 'active' && msg.epoch > x.epoch) stepDown(x, msg.epoch);
        if (x.role !== 'standby' || msg.epoch < x.epoch) return;
        // follows; a member ahead of its active has a forked tail and resyncs from a snapshot
        x.applied =
          x.applied > msg.lastSeq || msg.epoch > x.epoch
            ? msg.lastSeq
            : Math.min(msg.lastSeq, x.applied + CATCH_UP_PER_HEARTBEAT);
        x.epoch = msg.epoch;
        x.lastHbAt = now;
        x.lastHbSeq = msg.lastSeq;
        x.promise = promised(x.promise, now, promiseLengthMs(x.policy.peerPromiseMs, msg.p));
        send(x.name, from, { kind: 'ack', mark: msg.mark, epoch: x.epoch, seq: x.applied });
        return;
      case 'ack': {
        if (x.role !== 'active' || !x.rights) return;
        if (msg.epoch > x.epoch) return stepDown(x, msg.epoch);
        if (msg.epoch !== x.epoch) return;
        const anchorAt = x.hbMarks.sentAt(msg.mark);
        if (anchorAt !== undefined) x.rights = peerAcked(x.rights, anchorAt, x.policy);
        x.ackedSeq = Math.max(x.ackedSeq, msg.seq);
        const by = holds(x);
        if (by) {
          for (const seq of x.pending.filter((s) => s <= x.ackedSeq)) acknowledge(x, seq, by);
          x.pending = x.pending.filter((s) => s > x.ackedSeq);
        }
        return;
      }
      case 'end':
      case 'probe': {
        let ended: number | undefined;
        const g0 = msg.kind === 'end' ? { epoch: msg.epoch, anchor: msg.anchor, ms: 0 } : msg.grant;
        if (g0 && x.role === 'active' && x.rights) {
          const g = granted(x.rights, {
            epoch: g0.epoch,
            anchorAt: x.statusAnchors.sentAt(g0.anchor),
            ms: g0.ms,
          });
          if (g.ok) x.rights = g.rights;
          if (g.ok && msg.kind === 'end') ended = msg.id;
        }
        if (msg.kind === 'end' && ended === undefined) return;
        const active = x.role === 'active' && x.rights !== undefined;
        const right = active ? rightAt(x.rights!, now, x.policy) : 'standby';
        send(x.name, 'operator', {
          kind: 'answer',
          id: msg.id,
          role: x.role === 'active' ? 'active' : 'standby',
          epoch: x.epoch,
          right,
          withoutPeerSeconds: active ? withoutPeerMs(x.rights!, now) / 1000 : 0,
          ackedSeq: x.ackedSeq,
          aloneSeq: x.aloneSeq,
          inSync: active
            ? now < x.rights!.peerUntil && x.ackedSeq >= x.applied - 1
            : now - x.lastHbAt < 600 && x.lastHbSeq - x.applied < CATCH_UP_PER_HEARTBEAT,
          silentMs: now - x.lastHbAt,
          anchor: x.statusAnchors.issue(now),
          ...(ended !== undefined ? { ended } : {}),
        });
        return;
      }
      case 'grant':
        if (x.role === 'active' && x.rights) {
          const g = granted(x.rights, {
            epoch: msg.epoch,
            anchorAt: x.statusAnchors.sentAt(msg.anchor),
            ms: msg.ms,
          });
          if (g.ok) x.rights = g.rights;
        }
        return;
      case 'promote':
        if (x.role !== 'standby' || msg.epoch <= x.epoch) return;
        x.role = 'promoting';
        x.epoch = msg.epoch;
        x.promoteAt = now + promotionWaitMs(x.promise, now, false);
        x.promoteGrant = msg.grant;
        x.acceptLoss = msg.acceptLoss === true;
        return;
      case 'demote':
        if (msg.epoch >= x.epoch) stepDown(x, msg.epoch);
        return;
      case 'answer':
        return;
    }
  };

  const memberActs = (x: MemberState) => {
    const now = local(x.clock, t);
    if (x.role === 'promoting' && now >= x.promoteAt) {
      // I2: it must have every change acknowledged so far; promoted accepting data loss, every
      // change acknowledged with the standby (what was acknowledged alone is what was given up)
      const needed = x.acceptLoss ? maxPeerAcknowledged : maxAcknowledged;
      if (x.applied < needed)
        out.violations.push(
          `t=${t}: ${x.name} became active with seq ${x.applied} < acknowledged ${needed}${x.acceptLoss ? ' with the standby' : ''}`,
        );
      if (x.acceptLoss) maxAcknowledged = x.applied;
      x.acceptLoss = false;
      out.trace.push(`t=${t}: ${x.name} active in epoch ${x.epoch} with seq ${x.applied}`);
      x.role = 'active';
      x.rights = becameActive(x.epoch, now);
      x.ackedSeq = 0;
      x.aloneSeq = x.applied;
      if (x.promoteGrant) {
        const g = granted(x.rights, {
          epoch: x.epoch,
          anchorAt: x.statusAnchors.sentAt(x.promoteGrant.anchor),
          ms: x.promoteGrant.ms,
        });
        if (g.ok) x.rights = g.rights;
      }
    }
    if (x.role !== 'active' || !x.rights) return;
    if (now >= x.nextHbAt) {
      x.nextHbAt = now + HEARTBEAT_MS;
      send(x.name, other(x.name), {
        kind: 'hb',
        mark: x.hbMarks.issue(now),
        epoch: x.epoch,
        lastSeq: x.applied,
        p: x.policy.peerPromiseMs,
      });
    }
    if (t % sc.writeEveryMs === 0) {
      const by = holds(x);
      if (!by) {
        if (t >= 1000) out.refusedSteps += 1; // refused before any change is made (after start-up)
        return;
      }
      x.applied += 1;
      if (by === 'alone') {
        out.grantsUsed += 1;
        acknowledge(x, x.applied, 'alone');
      } else x.pending.push(x.applied);
    }
  };

  const operatorActs = () => {
    const restart = sc.restarts.find((r) => t === r.at);
    if (restart && op.up) {
      op.up = false;
      op.nextProbeAt = t + restart.downMs; // real time until it is back
    }
    if (!op.up) {
      if (t < op.nextProbeAt) return;
      // a new leader: its own clock, nothing in memory, the status from the API server
      const r = restart ?? sc.restarts.find((x) => x.at < t && x.at + x.downMs <= t)!;
      op.clock = { rate: r.rate, offset: r.offset };
      op.up = true;
      op.startedAt = local(op.clock, t);
      op.inherited = op.alone !== undefined;
      op.bind = -Infinity;
      op.answers = {};
      op.grant = undefined;
      op.end = undefined;
      op.misses = { primary: 0, redundant: 0 };
      op.answered = { primary: true, redundant: true };
      op.nextProbeAt = op.startedAt;
    }
    const now = local(op.clock, t);
    const leaves = sc.standbyLeaves;
    if (leaves && !leaver && t >= leaves.at) {
      leaver = { name: other(op.live), exitAt: t + leaves.exitAfterMs };
      out.trace.push(`t=${t}: ${leaver.name}'s pod is deleting; it exits at ${leaver.exitAt}`);
    }
    if (now >= op.nextProbeAt) {
      op.nextProbeAt = now + PROBE_MS;
      for (const n of NAMES) {
        op.misses[n] = op.answered[n] ? 0 : op.misses[n] + 1;
        op.answered[n] = false;
        op.probeId[n] += 1;
        op.probeSentAt[n] = now;
        const a = op.answers[n];
        let grant: { epoch: number; anchor: number; ms: number } | undefined;
        if (op.grant?.member === n && a && now - a.at < GRANT_MS / 2) {
          op.bind = Math.max(op.bind, grantBindsUntil(a.at, GRANT_MS));
          grant = { epoch: op.grant.epoch, anchor: a.anchor, ms: GRANT_MS };
        }
        send('operator', n, { kind: 'probe', id: op.probeId[n], ...(grant ? { grant } : {}) });
      }
    }
    // the failover decision, reduced to what matters here: a live member that failed its checks
    // is replaced by a standby that answers, unless status.servingAlone marks that standby
    const live = op.live;
    const standby = other(live);
    const sa = op.answers[standby];
    const fresh = (a: Answer | undefined): a is Answer => a !== undefined && now - a.at < 1.5 * PROBE_MS;
    // one failed check is enough when the standby confirms it has not heard the active for 1 s
    // (PeerLost), as in the real decision; otherwise FAILURE_THRESHOLD checks
    const confirmed = fresh(sa) && sa.silentMs >= 1000 && sa.at >= op.probeSentAt[live] - 1000;
    const failed = op.misses[live] >= FAILURE_THRESHOLD || (op.misses[live] >= 1 && confirmed);
    const bound = () => (op.inherited ? Math.max(op.bind, grantBindsUntil(op.startedAt, GRANT_MS)) : op.bind);
    // The person reads status.servingAlone and writes the request for that episode.
    if (sc.override !== undefined && t >= sc.override && !requestWritten) {
      requestWritten = true;
      if (op.alone)
        op.request = dataLossRequestValue(other(op.alone.member), new Date(op.alone.since).toISOString());
    }
    // The request is judged as the decision judges it; a live member that failed while it served
    // alone counts as fenced (rows 7 and 2 of the decision, reduced to one step here).
    if (op.request) {
      const fenced = failed && op.alone?.member === live;
      const v = judgeDataLossPromotion({
        request: op.request,
        ...(op.alone ? { alone: op.alone } : {}),
        live: fenced ? '' : live,
        aloneMemberEligible: false,
        candidate: { eligible: fresh(sa) && sa.role === 'standby', message: 'no fresh standby answer' },
        grantsBindUntil: bound(),
        now,
      });
      if (v.kind === 'refuse') {
        out.trace.push(`t=${t}: request ${op.request} refused: ${v.cause}`);
        op.request = undefined;
      }
      if (v.kind === 'promote' && fresh(sa)) {
        op.request = undefined;
        op.epoch += 1;
        op.live = standby;
        out.dataLossPromotions += 1;
        out.trace.push(`t=${t}: promoted ${standby} accepting data loss, epoch ${op.epoch}`);
        const d = decideServing({
          protocol: 'reference',
          live: standby,
          moving: true,
          promotingAlone: standby,
          epoch: op.epoch,
          liveConfirmed: false,
          standbyInSync: false,
          grantsBindUntil: bound(),
          now,
          alone: op.alone,
        });
        op.alone = stored(d.alone);
        let grant: { anchor: number; ms: number } | undefined;
        if (d.grant?.withPromotion && now - sa.at < GRANT_MS / 2) {
          op.bind = Math.max(op.bind, grantBindsUntil(sa.at, GRANT_MS));
          grant = { anchor: sa.anchor, ms: GRANT_MS };
        }
        op.grant = d.grant ? { member: d.grant.member, epoch: d.grant.epoch } : undefined;
        send('operator', live, { kind: 'demote', epoch: op.epoch });
        send('operator', standby, {
          kind: 'promote',
          epoch: op.epoch,
          acceptLoss: true,
          ...(grant ? { grant } : {}),
        });
        op.misses[standby] = 0;
        return;
      }
    }
    // a deleting pod is never promoted (assess.ts: PodDeleted)
    if (
      failed &&
      fresh(sa) &&
      sa.role === 'standby' &&
      op.alone?.member !== live &&
      leaver?.name !== standby
    ) {
      op.epoch += 1;
      op.live = standby;
      out.failovers += 1;
      out.trace.push(`t=${t}: failover to ${standby} epoch ${op.epoch} (alone ${JSON.stringify(op.alone)})`);
      const d = decideServing({
        protocol: 'reference',
        live: standby,
        moving: true,
        promotingAlone: standby,
        epoch: op.epoch,
        liveConfirmed: false,
        standbyInSync: false,
        grantsBindUntil: op.inherited ? Math.max(op.bind, grantBindsUntil(op.startedAt, GRANT_MS)) : op.bind,
        now,
        ...(op.alone ? { alone: op.alone } : {}),
      });
      op.alone = stored(d.alone); // written to status first
      let grant: { anchor: number; ms: number } | undefined;
      if (d.grant?.withPromotion && now - sa.at < GRANT_MS / 2) {
        op.bind = Math.max(op.bind, grantBindsUntil(sa.at, GRANT_MS));
        grant = { anchor: sa.anchor, ms: GRANT_MS };
      }
      op.grant = d.grant ? { member: d.grant.member, epoch: d.grant.epoch } : undefined;
      send('operator', live, { kind: 'demote', epoch: op.epoch });
      send('operator', standby, { kind: 'promote', epoch: op.epoch, ...(grant ? { grant } : {}) });
      op.misses[standby] = 0;
      return;
    }
    const la = op.answers[live];
    const d = decideServing({
      protocol: 'reference',
      live,
      moving: false,
      epoch: op.epoch,
      liveConfirmed: fresh(la) && op.misses[live] === 0 && la.role === 'active' && la.epoch === op.epoch,
      ...(la
        ? {
            liveReplication: la.inSync ? ('in-sync' as const) : ('disconnected' as const),
            liveServing: {
              right: la.right as 'peer',
              withoutPeerSeconds: la.withoutPeerSeconds,
              ackedSeq: la.ackedSeq,
              aloneSeq: la.aloneSeq,
            },
            liveReportSentAt: la.sentAt,
          }
        : {}),
      standbyInSync: fresh(sa) && sa.role === 'standby' && sa.inSync,
      standbyLeaving: leaver?.name === standby,
      grantsBindUntil: op.inherited ? Math.max(op.bind, grantBindsUntil(op.startedAt, GRANT_MS)) : op.bind,
      now,
      ...(op.alone ? { alone: op.alone } : {}),
    });
    if (d.alone?.member !== op.alone?.member)
      out.trace.push(`t=${t}: servingAlone ${d.alone?.member ?? '-'} (${d.reason})`);
    op.alone = stored(d.alone);
    const before = op.grant;
    op.grant = d.grant ? { member: d.grant.member, epoch: d.grant.epoch } : undefined;
    // A new grant goes out at once, after the mark is written (Prober.setGrant), anchored at the
    // member's last answer when that is recent enough. Modelled for a leaving standby only: the
    // other episodes keep the timeline the resync sweep below was tuned on (granted from the next
    // check, their grants outlast the resync, so that the sweep exercises the end of the grants).
    const g = op.grant;
    const changed = g && (before?.member !== g.member || before.epoch !== g.epoch);
    if (changed && d.reason === 'StandbyLeaving' && la && now - la.at < GRANT_MS / 2) {
      op.bind = Math.max(op.bind, grantBindsUntil(la.at, GRANT_MS));
      send('operator', g!.member, { kind: 'grant', epoch: g.epoch, anchor: la.anchor, ms: GRANT_MS });
    }
    // R6: the standby has resynced; end the grants rather than wait them out (anchored at the
    // latest answer, which is at least as late as any a grant named).
    if (d.endGrants && !op.grant && la && (!op.end || now - op.end.sentAt > PROBE_TIMEOUT_MS)) {
      op.end = { id: ++op.probeId[live], member: live, sentAt: now };
      op.probeSentAt[live] = now;
      send('operator', live, { kind: 'end', id: op.end.id, epoch: d.endGrants.epoch, anchor: la.anchor });
    }
  };

  const operatorReceives = (from: Name, msg: Msg) => {
    if (msg.kind !== 'answer' || !op.up || msg.id !== op.probeId[from]) return;
    const now = local(op.clock, t);
    if (now - op.probeSentAt[from] > PROBE_TIMEOUT_MS) return;
    op.answered[from] = true;
    op.answers[from] = { ...msg, at: now, sentAt: op.probeSentAt[from] };
    if (msg.ended !== undefined && msg.ended === op.end?.id && !op.grant) {
      // No grant sent before the end binds any more; the decision still wants a report sent
      // after it (this answer is one).
      op.bind = op.end.sentAt;
      op.inherited = false;
      out.grantsEnded += 1;
      out.trace.push(`t=${t}: grants ended`);
    }
  };

  for (t = 0; t <= sc.endMs; t += STEP_MS) {
    // deliver what is due; a message waiting for a paused member is handled when it resumes
    const due = net.filter((x) => x.at <= t && !(x.to !== 'operator' && paused(x.to, t)));
    for (const x of due) {
      net.splice(net.indexOf(x), 1);
      if (cut(linkOf(x.from, x.to), x.at)) continue;
      if (x.to === 'operator') operatorReceives(x.from as Name, x.msg);
      else memberReceives(m[x.to], x.from, x.msg);
    }
    for (const n of NAMES) if (!paused(n, t)) memberActs(m[n]);
    operatorActs();
    const p = holds(m.primary);
    const r = holds(m.redundant);
    if (p && r)
      out.violations.push(
        `t=${t}: both members hold a right (primary ${p} epoch ${m.primary.epoch}, redundant ${r} epoch ${m.redundant.epoch})`,
      );
    if (out.violations.length > 3) break;
  }
  return out;
}

const base: Scenario = {
  endMs: 20_000,
  cuts: [],
  pauses: [],
  restarts: [],
  rates: [1, 1, 1],
  delays: [1, 3, 2],
  writeEveryMs: 20,
};

describe('serving model: the scenarios of the split-brain issue', () => {
  it('healthy pair: every change acknowledged with the standby, no grant, no failover', () => {
    const o = run(base);
    expect(o.violations).toEqual([]);
    expect(o.failovers).toBe(0);
    expect(o.acknowledged.peer).toBeGreaterThan(500);
    expect(o.acknowledged.alone).toBe(0);
  });

  it('active cut off from its standby and the operator (clients on its side): it stops granting, the standby takes over', () => {
    const o = run({
      ...base,
      cuts: [
        { link: 'members', from: 5000, to: 15_000 },
        { link: 'op-primary', from: 5000, to: 15_000 },
      ],
    });
    expect(o.violations).toEqual([]);
    expect(o.failovers).toBe(1);
    expect(o.refusedSteps).toBeGreaterThan(0);
  });

  it('members cut off from each other only: the active serves alone, the standby is never promoted', () => {
    const o = run({ ...base, cuts: [{ link: 'members', from: 5000, to: 12_000 }] });
    expect(o.violations).toEqual([]);
    expect(o.failovers).toBe(0);
    expect(o.acknowledged.alone).toBeGreaterThan(100);
  });

  it('members cut off, then the active dies (cut from everyone): nobody is promoted, nothing acknowledged is lost', () => {
    const o = run({
      ...base,
      cuts: [
        { link: 'members', from: 5000, to: 20_000 },
        { link: 'op-primary', from: 9000, to: 20_000 },
      ],
    });
    expect(o.violations).toEqual([]);
    expect(o.failovers).toBe(0);
    expect(o.acknowledged.alone).toBeGreaterThan(0);
  });

  it('operator down while the members are fine: the pair keeps serving', () => {
    const o = run({ ...base, restarts: [{ at: 4000, downMs: 12_000, offset: 55, rate: 1.01 }] });
    expect(o.violations).toEqual([]);
    expect(o.failovers, o.trace.join('\n')).toBe(0);
    expect(o.refusedSteps).toBe(0);
  });

  it('active paused (process hung) while a grant was on its way: the late grant is worth nothing', () => {
    const o = run({
      ...base,
      cuts: [{ link: 'members', from: 3000, to: 20_000 }],
      pauses: [{ member: 'primary', from: 8000, to: 16_000 }],
      delays: [1, 2, 400, 3],
    });
    expect(o.violations).toEqual([]);
  });
});

const arb: fc.Arbitrary<Scenario> = fc.record({
  endMs: fc.constant(16_000),
  cuts: fc.array(
    fc
      .record({
        link: fc.constantFrom<Link>('members', 'op-primary', 'op-redundant'),
        from: fc.integer({ min: 0, max: 14_000 }),
        len: fc.integer({ min: 100, max: 8000 }),
      })
      .map((c) => ({ link: c.link, from: c.from - (c.from % STEP_MS), to: c.from + c.len })),
    { maxLength: 5 },
  ),
  pauses: fc.array(
    fc
      .record({
        member: fc.constantFrom<Name>('primary', 'redundant'),
        from: fc.integer({ min: 0, max: 14_000 }),
        len: fc.integer({ min: 50, max: 6000 }),
      })
      .map((p) => ({ member: p.member, from: p.from, to: p.from + p.len })),
    { maxLength: 2 },
  ),
  restarts: fc.array(
    fc.record({
      at: fc.integer({ min: 1, max: 2800 }).map((x) => x * STEP_MS),
      downMs: fc.integer({ min: 0, max: 20_000 }),
      offset: fc.integer({ min: 0, max: 1e6 }),
      rate: fc.double({ min: 0.98, max: 1.02, noNaN: true }),
    }),
    { maxLength: 1 },
  ),
  rates: fc.tuple(
    fc.double({ min: 0.98, max: 1.02, noNaN: true }),
    fc.double({ min: 0.98, max: 1.02, noNaN: true }),
    fc.double({ min: 0.98, max: 1.02, noNaN: true }),
  ),
  delays: fc.array(fc.integer({ min: 0, max: 600 }), { minLength: 1, maxLength: 8 }),
  writeEveryMs: fc.constantFrom(10, 20, 50),
  promiseMs: fc.constantFrom<[number, number]>([1000, 1000], [500, 500], [1000, 500], [500, 1000]),
});

describe('serving model: the active is lost at every moment of a resync', () => {
  // The members' link heals at 8 s after the active served alone; then, at a moment swept over
  // the resync and the wait for the grants to expire, the active is cut off from everyone.
  it('whenever it happens, I1 and I2 hold, and the pair is failed over only once the standby has everything', () => {
    let failovers = 0;
    let ended = 0;
    for (const writeEveryMs of [10, 50])
      for (let x = 8000; x <= 16_000; x += 40) {
        const o = run({
          ...base,
          endMs: 24_000,
          writeEveryMs,
          delays: [2, 40, 5, 120, 1],
          cuts: [
            { link: 'members', from: 3000, to: 8000 },
            { link: 'members', from: x, to: 24_000 },
            { link: 'op-primary', from: x, to: 24_000 },
          ],
        });
        expect(o.violations, `cut at ${x}:\n${o.trace.join('\n')}`).toEqual([]);
        failovers += o.failovers;
        ended += o.grantsEnded;
      }
    expect(failovers).toBeGreaterThan(10); // late enough cuts do fail over
    expect(ended).toBeGreaterThan(10); // late enough cuts come after the grants were ended (R6)
  });
});

describe('serving model: a planned removal of the standby', () => {
  it('the standby leaving (a preStop sleep, then gone): the active is granted before its promise lapses, nothing is refused', () => {
    for (const exitAfterMs of [0, 200, 5000]) {
      const o = run({ ...base, standbyLeaves: { at: 5000, exitAfterMs } });
      expect(o.violations, o.trace.join('\n')).toEqual([]);
      expect(o.refusedSteps, `exit after ${exitAfterMs} ms:\n${o.trace.join('\n')}`).toBe(0);
      expect(o.failovers).toBe(0);
      expect(o.acknowledged.alone).toBeGreaterThan(100);
    }
  });

  it('the same standby lost without notice (cut from everyone) is refused for a while: the row is what saves it', () => {
    const o = run({
      ...base,
      cuts: [
        { link: 'members', from: 5000, to: 20_000 },
        { link: 'op-redundant', from: 5000, to: 20_000 },
      ],
    });
    expect(o.violations).toEqual([]);
    expect(o.refusedSteps).toBeGreaterThan(0);
  });

  it('under any partitions, delays, pauses, drift and an operator restart, with the standby leaving at any moment: I1 and I2 hold', () => {
    fc.assert(
      fc.property(
        arb.chain((sc) =>
          fc
            .record({
              at: fc.integer({ min: 200, max: 2800 }),
              exitAfterMs: fc.constantFrom(0, 100, 1000, 5000),
            })
            .map(({ at, exitAfterMs }) => ({ ...sc, standbyLeaves: { at: at * STEP_MS, exitAfterMs } })),
        ),
        (sc) => {
          const o = run(sc);
          expect(o.violations, o.trace.join('\n')).toEqual([]);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('serving model: properties', () => {
  it('under any partitions, delays, pauses, drift and an operator restart: I1 and I2 hold', () => {
    const seen = { failovers: 0, alone: 0 };
    fc.assert(
      fc.property(arb, (sc) => {
        const o = run(sc);
        seen.failovers += o.failovers;
        seen.alone += o.acknowledged.alone;
        expect(o.violations, o.trace.join('\n')).toEqual([]);
      }),
      { numRuns: 150 },
    );
    // the runs explored what the rules are about, not only healthy pairs (ended grants are rare
    // here, 1-8 in 150 runs, so none in about 2 % of runs: the resync test above covers them for
    // certain, and asserting them here made this test fail at random)
    expect(seen.failovers).toBeGreaterThan(10);
    expect(seen.alone).toBeGreaterThan(100);
  });
});

describe('serving model: a promotion accepting data loss', () => {
  // The members are cut apart at 3 s (the active serves alone from about 5 s); at `x` the active
  // is cut off from the operator too, while its clients still reach it: it goes on granting as
  // long as any right lasts. The operator has failed it (three missed checks) about 3 s later;
  // the person asks for the standby `ask` after the cut, mostly before the last grant has run out.
  it('whenever it is asked for, the standby becomes active only once the old active cannot grant (I1)', () => {
    let promotions = 0;
    for (const ask of [3500, 4000, 5000, 8000])
      for (let x = 5500; x <= 9500; x += 250) {
        const o = run({
          ...base,
          endMs: 24_000,
          delays: [2, 40, 5, 120, 1],
          override: x + ask,
          cuts: [
            { link: 'members', from: 3000, to: 24_000 },
            { link: 'op-primary', from: x, to: 24_000 },
          ],
        });
        expect(o.violations, `cut at ${x}, asked ${ask} ms later:\n${o.trace.join('\n')}`).toEqual([]);
        expect(o.failovers).toBe(0);
        promotions += o.dataLossPromotions;
      }
    expect(promotions).toBe(4 * 17); // every run promoted the standby, once
  });

  it('asked for while the active still serves alone, the request is refused and never fires later', () => {
    const o = run({
      ...base,
      endMs: 24_000,
      override: 6000,
      cuts: [
        { link: 'members', from: 3000, to: 24_000 },
        { link: 'op-primary', from: 10_000, to: 24_000 },
      ],
    });
    expect(o.violations).toEqual([]);
    expect(o.dataLossPromotions).toBe(0);
  });

  it('under any partitions, delays, pauses, drift and an operator restart, with a request at any moment: I1 holds, and only what was acknowledged alone is lost', () => {
    let promotions = 0;
    fc.assert(
      fc.property(
        arb.chain((sc) =>
          fc
            .tuple(
              fc.integer({ min: 1000, max: 3000 }),
              fc.array(fc.integer({ min: 0, max: 150 }), { minLength: 1, maxLength: 8 }),
            )
            .map(([n, delays]) => ({
              ...sc,
              // delays the checks survive (most runs reach the episode), any cuts, pauses, restarts
              delays,
              override: n * STEP_MS,
              // a serving-alone episode whose active is then lost, in most runs
              cuts: [
                ...sc.cuts,
                { link: 'members' as const, from: 1000, to: 16_000 },
                { link: 'op-primary' as const, from: 4000 + (n % 7) * 500, to: 16_000 },
              ],
            })),
        ),
        (sc) => {
          const o = run(sc);
          promotions += o.dataLossPromotions;
          expect(o.violations, o.trace.join('\n')).toEqual([]);
        },
      ),
      { numRuns: 100 },
    );
    expect(promotions).toBeGreaterThan(10);
  });
});
