// The client's typed errors: one class per outcome a caller handles differently.
//
//   NoSeatError              no seat free (NO_SEATS, USER_LIMIT, HOST_LIMIT): try again later
//   LicenseRefusedError      the request can never succeed as sent (unknown feature, excluded
//                            user or host, licence expired, bad request, wrong token)
//   LeaseLostError           the lease is gone (expired, revoked, lost in a failover) or could
//                            not be renewed before it expired
//   LicenseUnavailableError  no licence server did the call within the retry budget; `lastCause`
//                            says what the last attempt got
//   TlsCertificateError      the server's certificate was refused (untrusted CA, expired, wrong
//                            name) or it does not speak TLS: not retried; the message names the fix
//                            (tls-errors.ts)
//
// All are LicenseError (code, HTTP status), so `err instanceof LicenseError` catches every one.

/** A call of the lease API, as errors name it: "checkout of synth", "renewal of lease 3-12". */
export type CallName = string;

export class LicenseError extends Error {
  override name = 'LicenseError';
  /** the server's code (NO_SEATS, LEASE_NOT_FOUND, …) or UNAVAILABLE / NOT_RENEWED */
  readonly code: string;
  /** the HTTP status of the answer; 0 when there was none */
  readonly status: number;
  /** NOT_ACTIVE / NO_QUORUM: the live member's address, when the server named it */
  readonly active: string | null | undefined;
  constructor(code: string, message: string, status: number, active?: string | null, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.status = status;
    this.active = active;
  }
}

/** No seat is free for this client (all in use, or the user's/host's limit is reached). */
export class NoSeatError extends LicenseError {
  override name = 'NoSeatError';
}

/** The server refused the request for good: retrying it unchanged cannot succeed. */
export class LicenseRefusedError extends LicenseError {
  override name = 'LicenseRefusedError';
}

/** The lease is no longer held: the application no longer has the seat. */
export class LeaseLostError extends LicenseError {
  override name = 'LeaseLostError';
  readonly leaseId: string;
  constructor(leaseId: string, code: string, message: string, status: number, options?: ErrorOptions) {
    super(code, message, status, undefined, options);
    this.leaseId = leaseId;
  }
}

/** The retry budget was spent without an answer that settles the call. */
export class LicenseUnavailableError extends LicenseError {
  override name = 'LicenseUnavailableError';
  /** what the last attempt got, e.g. "http://m:7070: 503 NO_QUORUM: …" or "…: connect ECONNREFUSED" */
  readonly lastCause: string;
  readonly attempts: number;
  readonly elapsedMs: number;
  constructor(call: CallName, lastCause: string, attempts: number, elapsedMs: number, budgetMs: number) {
    super(
      'UNAVAILABLE',
      `no licence server did the ${call} within the retry budget of ${budgetMs} ms ` +
        `(${attempts} attempt${attempts === 1 ? '' : 's'} in ${Math.round(elapsedMs)} ms); last: ${lastCause}`,
      0,
    );
    this.lastCause = lastCause;
    this.attempts = attempts;
    this.elapsedMs = elapsedMs;
  }
}

export const NO_SEAT_CODES: ReadonlySet<string> = new Set(['NO_SEATS', 'USER_LIMIT', 'HOST_LIMIT']);
export const LEASE_GONE_CODES: ReadonlySet<string> = new Set(['LEASE_NOT_FOUND', 'LEASE_EXPIRED']);
