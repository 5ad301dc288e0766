// What decide() (failover.ts) returns, and what a row of its table decides. Types only.
//
// How the shell carries out a decision (order matters: never two live members):
//   1. write status (liveMember, epoch, …) — the intent is durable; a restarted operator repeats
//      the rest (a live member that reports `standby` is promoted again: action `repromote`),
//   2. if `fence`: when nobody is promoted, point the client Service at nothing; demote the
//      fenced member through the admin API with `epoch` (best effort: it may be unreachable;
//      awaited only when it is healthy, as in a switchover),
//   3. if `promote`: POST /v1/admin/promote {epoch, force: fence !== undefined}, then
//   4. point the client Service at `live` (or at nothing when `live` is '').
import type { Member } from '../api/pair.ts';
import type { MemberAssessment, MemberReason } from './assess.ts';
import type { ConditionSpec } from './conditions.ts';
import type { DataLossVerdict } from './data-loss-promotion.ts';
import type { Phase } from './decision-conditions.ts';
import type { LiveMember } from './observation.ts';
import type { ServingDecision } from './serving.ts';

export type Action =
  | 'none'
  | 'initial-promote'
  | 'failover'
  | 'failback'
  | 'switchover'
  | 'serve-first-recovered'
  | 'fence-only'
  | 'repromote'
  | 'promote-accepting-data-loss';

export type Reason =
  | 'Healthy'
  | 'WaitingForMembers'
  | 'InitialPromotion'
  | 'MemberRecovered'
  | MemberReason
  | 'BothDown'
  | 'NoHealthyStandby'
  | 'StandbyNotInSync'
  | 'StandbyNotPromotable'
  | 'FailoverDisabled'
  | 'FailoverDelayed'
  | 'MinIntervalNotElapsed'
  | 'PreferredMemberChanged'
  | 'SwitchoverRequested'
  | 'SpecChanged'
  | 'WaitingForPreferred'
  | 'SwitchoverPending'
  | 'FailbackStable'
  | 'FailbackPending'
  | 'FailbackManual'
  | 'LiveMemberNotActive'
  | 'StrayActive'
  | 'DataLossAccepted'
  | 'LiveMemberLeaving';

/** The rows of the decision table (failover.ts); a test checks that each decides at least one scenario. */
export const TABLE_ROWS = [
  '1',
  '2a',
  '2b',
  '2',
  '3a',
  '3',
  '4',
  '5',
  '6',
  '7',
  '8',
  '9',
  '10',
  '11',
  '12',
] as const;
export type TableRow = (typeof TABLE_ROWS)[number];

export interface Decision {
  /** The row of the decision table that decided. */
  row: TableRow;
  action: Action;
  reason: Reason;
  message: string;
  /** The live member after the decision ('' = the client Service selects no pod). */
  live: LiveMember;
  /** The live member before (status.liveMember). */
  previousLive: LiveMember;
  /** Take this member out of the Service and demote it (with `epoch`) before anything else. */
  fence?: Member;
  /** Promote this member with `epoch` (force: true when `fence` is set), then point the Service at it. */
  promote?: Member;
  /**
   * The fenced member answers (healthy, or leaving): await its demotion before the promotion, so
   * that the promoted member finds its peer a standby and need not wait its promise out.
   */
  demoteFirst?: true;
  /**
   * The fenced member's process that was live has exited (promise-holder.ts): the promoted member
   * need not wait out its promise to it.
   */
  peerExited?: true;
  /** The epoch to store in status and use for promote/demote; never below status.epoch. */
  epoch: number;
  /** The live member changes: set status.liveSince (and status.liveMember = live). */
  moved: boolean;
  /** Increment status.failoverCount (failover, failback, switchover). */
  countsAsFailover: boolean;
  /** For status.lastFailover: present when the Service moves, except for the initial promotion. */
  lastFailover?: {
    from: LiveMember;
    to: LiveMember;
    action: Action;
    reason: Reason;
    detectionSeconds?: number;
  };
  /** The value for status.preferredMember. */
  acknowledgedPreferredMember: Member;
  /** The switchover request (annotation) is handled: record its value in status.lastSwitchoverRequest. */
  requestHandled: boolean;
  phase: Phase;
  conditions: ConditionSpec[];
  members: Record<Member, MemberAssessment>;
  /** Reconcile again after this many ms: a timed rule (delay, stable period, min interval) is pending. */
  requeueAfterMs?: number;
  /** The serving rules (serving.ts): the next status.servingAlone and the solo grant to send. */
  serving: ServingDecision;
  /**
   * The verdict on a new lpo.dev/promote-accepting-data-loss value (data-loss-promotion.ts), with
   * the value: carried out (row 2a), pending (row 2b) or refused.
   */
  dataLoss?: { request: string; verdict: DataLossVerdict };
}

/** What a row of the table decides. */
export interface Move {
  /** The row of the table that decided (see the table in failover.ts). */
  row: TableRow;
  action: Action;
  reason: Reason;
  message: string;
  live: LiveMember;
  fence?: Member;
  promote?: Member;
  peerExited?: true;
  requeueAt?: number;
  detectionSeconds?: number;
}
