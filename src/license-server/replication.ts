// Replication between the two members. The standby PULLS from the active, over one persistent
// connection (the cheap path) or, with a peer that does not offer it, by long-polling:
//
//   GET /v1/replication/snapshot                       → the whole ledger at seq S
//   GET /v1/replication/stream?after=S&afterEpoch=E    (Upgrade: lsp-replication/1) → 101, then
//       active → standby: one JSON line per log entry after S, in order, plus a heartbeat line
//                         {"hb":1,role,epoch,lastSeq,wall,advertiseUrl,n} at once and every
//                         heartbeat period (`n` numbers it);
//       standby → active: {"ack":S,"epoch":E,"hb":n} lines, after applying what it received (at
//                         least once per heartbeat); `hb` names the last heartbeat it had.
//   GET /v1/replication/entries?after=S&afterEpoch=E   → entries S+1.. (long-poll up to `wait` ms)
//
// `after`/`afterEpoch` name the last entry the standby has applied; they are also its
// acknowledgement. The active answers SNAPSHOT_REQUIRED when it cannot prove the standby's
// log is a prefix of its own (entry S has another epoch: a fork left by an old active, or S
// is no longer in the in-memory window).
//
// Every entry is serialised once, when it is produced: the same JSON text goes to the journal,
// to the stream or the poll answer, and on the standby (as received) into its own journal.
//
// Every acknowledgement is also the standby's promise that it stays standby for a while (R1 of
// docs/reliability.md): the source reports it with the time it sent what the standby answered
import type { LedgerSnapshot, LogEntry } from './ledger.ts';

/** The protocol name in the Upgrade header of the replication stream. */
export const STREAM_PROTOCOL = 'lsp-replication/1';
export const STREAM_PATH = '/v1/replication/stream';

export type EntriesResponse = {
  role: 'active' | 'standby';
  epoch: number;
  lastSeq: number;
  wall: number;
  advertiseUrl: string | null;
  /** numbers this answer; the next poll names it (`hb`) as its acknowledgement */
  n?: number;
  entries: LogEntry[];
};
export type SnapshotResponse = {
  role: 'active' | 'standby';
  epoch: number;
  wall: number;
  advertiseUrl: string | null;
  ledger: LedgerSnapshot;
};

/** A heartbeat line of the replication stream. */
export type StreamHeartbeat = {
  hb: 1;
  role: 'active' | 'standby';
  epoch: number;
  lastSeq: number;
  wall: number;
  advertiseUrl: string | null;
  /** numbers this heartbeat; acknowledgements name the last one the standby had */
  n?: number;
};

/** What a follower needs from the member it belongs to. */
