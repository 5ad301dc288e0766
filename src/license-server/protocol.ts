// Wire format of the licence server's HTTP API, shared by the server, the client and the CLI.
import { z } from 'zod';
import { DENIAL_CODES } from './ledger.ts';
import type { DenialCode, LedgerSnapshot, LogEntry } from './ledger.ts';
import type { ServingJson } from './serving.ts';

const ident = z.string().min(1).max(253);

export const checkoutBody = z
  .object({
    feature: z.string().min(1).max(100),
    count: z.number().int().min(1).max(100_000).default(1),
    clientId: ident,
    user: ident,
    host: ident,
  })
  .strict();
export type CheckoutBody = z.input<typeof checkoutBody>;

export const leaseRefBody = z.object({ leaseId: z.string().min(1).max(100), clientId: ident }).strict();
export type LeaseRefBody = z.infer<typeof leaseRefBody>;

/** A solo grant (R3 of docs/reliability.md): serve alone for `ms`, counted from the status answer `anchor`. */
const soloGrant = {
  anchor: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  ms: z.number().int().min(100).max(600_000),
};
export const promoteBody = z
  .object({
    epoch: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    force: z.boolean().default(false),
    /** serve alone from the start: the other member failed (the operator marked it not promotable) */
    grant: z.object(soloGrant).strict().optional(),
    /**
     * The operator saw the peer's process that was active exit (its kubelet reported the container
     * terminated or started again): no promise to it binds any more (R5, docs/reliability.md).
     */
    peerExited: z.boolean().default(false),
  })
  .strict();
export const demoteBody = z.object({ epoch: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) }).strict();
export const grantBody = z
  .object({
    epoch: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    anchor: soloGrant.anchor,
    // 0 ends the operator's grants (R6 of docs/reliability.md).
    ms: z.union([z.literal(0), soloGrant.ms]),
  })
  .strict();

// A non-negative integer in a query string. Not z.coerce.number(): it reads "" (`?epoch=`) as 0.
const queryInt = (max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .regex(/^\d{1,16}$/, 'must be a non-negative integer')
    .transform(Number)
    .pipe(z.number().max(max));

/** A status read that waits for the standby to lose its active (peer-silence.ts); both or neither. */
export const statusQuery = z
  .object({
    peerSilentMs: queryInt(60_000).pipe(z.number().min(100)).optional(),
    waitMs: queryInt(30_000).optional(),
  })
  .refine((q) => (q.peerSilentMs === undefined) === (q.waitMs === undefined), {
    message: 'peerSilentMs and waitMs go together',
  });

export type LeaseJson = {
  id: string;
  feature: string;
  count: number;
  clientId: string;
  user: string;
  host: string;
  /** seconds until the lease expires unless renewed */
  expiresInSeconds: number;
  /** seconds after which the client should renew */
  renewAfterSeconds: number;
  /** the same instant as expiresInSeconds, on the server's wall clock */
  expiresAt: string;
  /** true when an existing lease of this client was returned (idempotent checkout) */
  existing: boolean;
};

export const ERROR_CODES = [
  ...DENIAL_CODES,
  'BAD_REQUEST',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'PAYLOAD_TOO_LARGE',
  'NOT_FOUND',
  'TIMEOUT',
  'STALE_EPOCH',
  'PEER_ACTIVE',
  'NOT_CAUGHT_UP',
  'SNAPSHOT_REQUIRED',
  'UNKNOWN_ANCHOR',
  'LICENSE_INVALID',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export type ErrorJson = {
  code: ErrorCode;
  message: string;
  /** NOT_ACTIVE, NO_QUORUM: the client address of the live member, when known */
  active?: string | null;
  /** a refused grant: the member's status, as a granted one answers */
  status?: StatusJson;
};

export const DENIAL_STATUS: Record<DenialCode, number> = {
  UNKNOWN_FEATURE: 404,
  NO_SEATS: 409,
  LICENSE_EXPIRED: 403,
  USER_LIMIT: 409,
  HOST_LIMIT: 409,
  EXCLUDED: 403,
  LEASE_NOT_FOUND: 404,
  LEASE_EXPIRED: 410,
  NOT_ACTIVE: 503,
  NO_QUORUM: 503,
};

export type ReplicationState = 'in-sync' | 'catching-up' | 'disconnected' | 'none';

/**
 * The licence in force, as the operator reads it to say why a member cannot serve: `code` is the
 * refusal of the file when no licence is in force; `lastErrorCode`/`lastError` a newer file refused
 * while the previous licence stays in force.
 */
export type LicenceJson = {
  state: 'valid' | 'invalid' | 'expired' | 'missing';
  message: string;
  code?: string;
  lastError?: string;
  lastErrorCode?: string;
  /** ISO time the last usable feature expires (state valid) */
  expires?: string;
  /** the usable feature that expires first (state valid) */
  firstExpiry?: { feature: string; expires: string };
};

export type StatusJson = {
  member: string;
  pairId: string;
  role: 'active' | 'standby';
  epoch: number;
  ready: boolean;
  license: LicenceJson;
  replication: {
    state: ReplicationState;
    mode: 'sync' | 'async';
    lastSeq: number;
    lagEntries: number;
    lagSeconds: number;
    peerLastSeenSeconds: number | null;
    clockSkewSeconds: number | null;
  };
  /** the member's serving rights (docs/reliability.md); absent on servers that predate them */
  serving?: ServingJson;
  /** extensions */
  time: string;
  activeLeases: number;
  advertiseUrl: string | null;
};

// ------------------------------------------------------------------------------ replication
//
// Replication between the two members (replication-source.ts on the active,
// replication-follower.ts on the standby). The standby PULLS from the active, over one persistent
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
// (the heartbeat or answer numbered `hb`, or the entry acknowledged), which serving.ts counts from.

/** The protocol name in the Upgrade header of the replication stream. */
export const STREAM_PROTOCOL = 'lsp-replication/1';
export const STREAM_PATH = '/v1/replication/stream';

/** What the active says of itself with every answer and heartbeat of the replication stream. */
type ActivePosition = {
  role: 'active' | 'standby';
  epoch: number;
  lastSeq: number;
  wall: number;
  advertiseUrl: string | null;
  /** the active's P (ms): how long it counts each acknowledgement as a promise (R2); the standby promises at least that */
  p?: number;
};
export type EntriesResponse = ActivePosition & {
  /** numbers this answer; the next poll names it (`hb`) as its acknowledgement */
  n?: number;
  entries: LogEntry[];
};
export type SnapshotResponse = Omit<ActivePosition, 'lastSeq'> & { ledger: LedgerSnapshot };

/** A heartbeat line of the replication stream. */
export type StreamHeartbeat = ActivePosition & {
  hb: 1;
  /** numbers this heartbeat; acknowledgements name the last one the standby had */
  n?: number;
};

export const entriesQuery = z.object({
  after: queryInt(),
  afterEpoch: queryInt(),
  wait: queryInt(10_000).default(1000),
  member: z.string().max(100).optional(),
  epoch: queryInt().optional(),
  /** the number of the last answer the standby had (its acknowledgement names it) */
  hb: queryInt().optional(),
});

export const streamQuery = z.object({
  after: queryInt(),
  afterEpoch: queryInt(),
  member: z.string().max(100).optional(),
  epoch: queryInt().optional(),
});

/** A standby's acknowledgement line on the replication stream. */
export const streamAck = z.object({
  ack: z.number().int().min(0),
  epoch: z.number().int().min(0),
  /** the number of the last heartbeat the standby had */
  hb: z.number().int().min(0).optional(),
});
