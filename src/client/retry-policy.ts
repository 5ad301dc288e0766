// The client's retry policy, without I/O: what an answer of a lease call means (done, a
// definitive refusal, or retry), where the next attempt goes (the configured addresses in turn,
// or the live member a NOT_ACTIVE/NO_QUORUM answer names), how long to wait before it (jittered
// exponential backoff) and when the budget is spent. Time and randomness are passed in
// (test/unit/client/retry-policy.test.ts runs it on a fake clock).
//
// Every retry sends the same request: a checkout is idempotent per (clientId, feature) on the
// server (asking again returns the client's lease), a renewal is harmless twice, and a release
// repeated after an attempt that may have been carried out and that finds no lease has succeeded.
import {
  LEASE_GONE_CODES,
  LeaseLostError,
  LicenseError,
  LicenseRefusedError,
  LicenseUnavailableError,
  NO_SEAT_CODES,
  NoSeatError,
} from './errors.ts';
import { hedgedAttempt, type HedgeOptions } from './hedge.ts';
import type { TlsCertificateError } from './tls-errors.ts';

export type LeaseCall =
  { op: 'checkout'; feature: string } | { op: 'renew'; leaseId: string } | { op: 'release'; leaseId: string };

export function callName(c: LeaseCall): string {
  if (c.op === 'checkout') return `checkout of ${c.feature}`;
  return `${c.op === 'renew' ? 'renewal' : 'release'} of lease ${c.leaseId}`;
}

export type RetryOptions = {
  /** total time one call may take, attempts and waits included */
  budgetMs: number;
  /** one attempt (connect, request, answer); clamped to what is left of the budget */
  attemptTimeoutMs: number;
  /** first backoff; doubles per wait up to backoffMaxMs, each wait drawn from [b/2, b] */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** hedged attempts (hedge.ts): off when absent */
  hedge?: HedgeOptions | undefined;
};

export const RETRY_DEFAULTS: RetryOptions = {
  budgetMs: 10_000,
  attemptTimeoutMs: 2_000,
  backoffBaseMs: 100,
  backoffMaxMs: 500,
};

/** Redirects to a new address followed at once, per call (the rest wait a backoff). */
const MAX_QUICK_REDIRECTS = 3;

/** The last attempt of a call gets at least this long; a wait is shortened to leave it. */
export const MIN_ATTEMPT_MS = 100;

/** What one attempt got: an HTTP answer (body: parsed JSON, or undefined) or none. */
export type Outcome =
  | { kind: 'answer'; status: number; body: unknown }
  | {
      kind: 'failure';
      /** ECONNREFUSED, ECONNRESET, ETIMEDOUT (the attempt's timeout), ENOTFOUND, … */
      code: string;
      message: string;
      /** the request may have reached the server (false: the connection was never made) */
      sent: boolean;
      /** the server's certificate was refused: no retry can fix it */
      tls?: TlsCertificateError;
    };

export type Verdict =
  | { kind: 'done'; body: Record<string, unknown> }
  | { kind: 'final'; error: LicenseError }
  | {
      kind: 'retry';
      cause: string;
      /** the live member's address, when the answer named it */
      active: string | undefined;
      /** NOT_ACTIVE / NO_QUORUM: the member cannot serve this now; a new connection may reach one that can */
      notServing: boolean;
      /** the attempt may have been carried out (its outcome is unknown) */
      mayHaveLanded: boolean;
    };

type ErrorBody = { code?: unknown; message?: unknown; active?: unknown };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** What an attempt's outcome means for the call. `landedBefore`: an earlier attempt may have been carried out. */
export function classify(call: LeaseCall, outcome: Outcome, landedBefore: boolean): Verdict {
  if (outcome.kind === 'failure') {
    if (outcome.tls) return { kind: 'final', error: outcome.tls };
    const cause = outcome.message.includes(outcome.code)
      ? outcome.message
      : `${outcome.code}: ${outcome.message}`;
    return { kind: 'retry', cause, active: undefined, notServing: false, mayHaveLanded: outcome.sent };
  }
  const { status, body } = outcome;
  if (status >= 200 && status < 300) {
    const ok =
      isObject(body) &&
      (call.op === 'release'
        ? body.released === true
        : isObject(body.lease) && typeof body.lease.id === 'string');
    if (ok) return { kind: 'done', body };
    return {
      kind: 'retry',
      cause: `${status}: the answer is not a licence server's`,
      active: undefined,
      notServing: false,
      mayHaveLanded: true,
    };
  }
  const e: ErrorBody = isObject(body) ? body : {};
  const code = typeof e.code === 'string' ? e.code : `HTTP_${status}`;
  const message = typeof e.message === 'string' ? e.message : `HTTP ${status}`;
  const active = typeof e.active === 'string' && e.active !== '' ? e.active : undefined;
  const cause = `${status} ${code}: ${message}`;
  if (code === 'NOT_ACTIVE')
    // A standby changes nothing: this attempt was certainly not carried out.
    return { kind: 'retry', cause, active, notServing: true, mayHaveLanded: false };
  if (code === 'NO_QUORUM') return { kind: 'retry', cause, active, notServing: true, mayHaveLanded: true };
  if (status >= 500 || status === 408 || status === 429)
    return { kind: 'retry', cause, active: undefined, notServing: false, mayHaveLanded: true };
  const name = callName(call);
  if (call.op !== 'checkout' && LEASE_GONE_CODES.has(code)) {
    // A release repeated after an attempt that may have been carried out: the lease is gone
    // because that attempt released it.
    if (call.op === 'release' && code === 'LEASE_NOT_FOUND' && landedBefore)
      return { kind: 'done', body: { released: true, leaseId: call.leaseId } };
    return {
      kind: 'final',
      error: new LeaseLostError(
        call.leaseId,
        code,
        `lease ${call.leaseId} is lost (${name}): ${cause}`,
        status,
      ),
    };
  }
  if (NO_SEAT_CODES.has(code))
    return { kind: 'final', error: new NoSeatError(code, `no seat free (${name}): ${cause}`, status) };
  return { kind: 'final', error: new LicenseRefusedError(code, `the ${name} was refused: ${cause}`, status) };
}

/** The n-th wait (0-based): exponential, capped, drawn from [b/2, b] ("equal jitter"). */
export function backoffMs(
  n: number,
  opts: Pick<RetryOptions, 'backoffBaseMs' | 'backoffMaxMs'>,
  random: () => number,
): number {
  const b = Math.min(opts.backoffMaxMs, opts.backoffBaseMs * 2 ** Math.min(n, 30));
  return b / 2 + random() * (b / 2);
}

/**
 * When to renew a lease the server just returned: at `renewAfterSeconds` (half the TTL with the
 * reference server), never later than half of what is left of it, never sooner than 50 ms.
 */
export function renewDelayMs(lease: { renewAfterSeconds: number; expiresInSeconds: number }): number {
  const half = (lease.expiresInSeconds * 1000) / 2;
  const after = lease.renewAfterSeconds * 1000;
  return Math.max(50, after > 0 ? Math.min(after, half) : half);
}

/**
 * Where attempts go: the configured addresses (a Service URL, or member URLs tried in order), or
 * the live member an answer named. A redirect that answers is kept for the next calls; one that
 * fails sends the client back to the configured addresses.
 */
export class Route {
  readonly configured: readonly string[];
  private cursor = 0;
  private redirect: string | undefined;

  constructor(addresses: readonly string[]) {
    if (addresses.length === 0) throw new Error('at least one licence server address is needed');
    this.configured = addresses.map(normalise);
  }

  get target(): string {
    return this.redirect ?? (this.configured[this.cursor] as string);
  }

  /** Follow a NOT_ACTIVE/NO_QUORUM answer's address. */
  redirectTo(url: string): void {
    const u = normalise(url);
    const i = this.configured.indexOf(u);
    if (i >= 0) {
      this.cursor = i;
      this.redirect = undefined;
    } else this.redirect = u;
  }

  /** The attempt at `target` failed (retryable): move on. */
  failed(target: string): void {
    if (this.redirect !== undefined && this.redirect === target) this.redirect = undefined;
    else this.cursor = (this.cursor + 1) % this.configured.length;
  }

  isRedirect(target: string): boolean {
    return this.redirect === target;
  }
}

export const normalise = (url: string): string => url.replace(/\/+$/, '');

export type Clock = { now(): number; sleep(ms: number): Promise<void> };

export type RetryEvent =
  | { type: 'retry'; call: string; address: string; error: string; attempt: number; delayMs: number }
  | { type: 'redirect'; from: string; to: string }
  /** an attempt not answered yet was joined by another on a new connection (hedge.ts) */
  | { type: 'hedge'; call: string; address: string; attempt: number; inFlight: number };

export type RunHooks = {
  onEvent?: (e: RetryEvent) => void;
  /** the attempt at this address got a retryable outcome: its kept-alive connections must go */
  onRetryable?: (address: string) => void;
};

/** One attempt: send the call to `address`, giving up after `timeoutMs`. */
export type AttemptFn = (address: string, timeoutMs: number) => Promise<Outcome>;

/**
 * Run one call to its end: the success's body, or the definitive refusal, or
 * LicenseUnavailableError once the budget is spent (naming the last cause). The first
 * NOT_ACTIVE/NO_QUORUM of a call, and a redirect to an address the call has not been sent to
 * before, are retried at once; every other retry waits a jittered backoff, shortened so that the
 * last attempt still fits in the budget.
 */
export async function runCall(
  call: LeaseCall,
  attempt: AttemptFn,
  route: Route,
  opts: RetryOptions,
  clock: Clock,
  random: () => number,
  hooks: RunHooks = {},
): Promise<Record<string, unknown>> {
  const start = clock.now();
  const deadline = start + opts.budgetMs;
  const name = callName(call);
  let attempts = 0;
  let waits = 0;
  let quickRetryUsed = false;
  const redirectedTo = new Set<string>();
  let landed = false;
  let lastChance = false;
  let lastCause: string | undefined;
  const failedRedirects = new Set<string>();
  for (;;) {
    const address = route.target;
    const timeoutMs = Math.max(1, Math.floor(Math.min(opts.attemptTimeoutMs, deadline - clock.now())));
    attempts += 1;
    const hedge = opts.hedge;
    let hedged = false;
    const outcome = hedge
      ? await hedgedAttempt(
          (ms) => attempt(address, ms),
          timeoutMs,
          hedge,
          clock,
          (n) => {
            hedged = true;
            // the hedge must not ride the connection the unanswered attempt is stuck on
            hooks.onRetryable?.(address);
            hooks.onEvent?.({ type: 'hedge', call: name, address, attempt: attempts, inFlight: n + 1 });
          },
        )
      : await attempt(address, timeoutMs);
    // An attempt still unanswered beside the one that answered may have been carried out: a
    // release that finds no lease then has succeeded, as after any attempt that may have landed.
    if (hedged) landed = true;
    const v = classify(call, outcome, landed);
    if (v.kind === 'done') return v.body;
    if (v.kind === 'final') throw v.error;
    landed ||= v.mayHaveLanded;
    hooks.onRetryable?.(address);
    // An attempt cut short by the end of the budget says less than the one before it.
    const cutShort =
      outcome.kind === 'failure' && outcome.code === 'ETIMEDOUT' && timeoutMs < opts.attemptTimeoutMs;
    const cause =
      cutShort && lastCause !== undefined
        ? `${lastCause} (the last attempt, cut short by the budget: ${address}: ${v.cause})`
        : `${address}: ${v.cause}`;
    if (!cutShort) lastCause = cause;
    let quick: boolean;
    const named = v.active === undefined ? undefined : normalise(v.active);
    if (named !== undefined && named !== address && !failedRedirects.has(named)) {
      route.redirectTo(named);
      hooks.onEvent?.({ type: 'redirect', from: address, to: route.target });
      // An address not followed before in this call is news (the member that was just promoted):
      // tried at once. Members naming each other back and forth wait like any other retry.
      quick = !redirectedTo.has(named) && redirectedTo.size < MAX_QUICK_REDIRECTS;
      redirectedTo.add(named);
    } else {
      if (route.isRedirect(address) && outcome.kind === 'failure') failedRedirects.add(address);
      route.failed(address);
      // the first NOT_ACTIVE/NO_QUORUM: at once, on a new connection (through a Service it may
      // reach the member that serves now)
      quick = v.notServing && !quickRetryUsed;
      if (quick) quickRetryUsed = true;
    }
    const now = clock.now();
    const room = deadline - now - MIN_ATTEMPT_MS;
    if (room < 0 || lastChance)
      throw new LicenseUnavailableError(name, cause, attempts, now - start, opts.budgetMs);
    // A connection refused never reached a server (nothing listens: a container restarting, a
    // Service not yet moved): trying again costs no server anything, so it does not back off past
    // the first wait, and the call goes through within a wait of the moment something listens.
    const neverSent = outcome.kind === 'failure' && !outcome.sent;
    const backoff = neverSent
      ? { ...opts, backoffMaxMs: Math.min(opts.backoffMaxMs, opts.backoffBaseMs) }
      : opts;
    let delayMs = quick ? 0 : Math.max(1, backoffMs(waits, backoff, random));
    if (delayMs >= room) {
      // the wait is cut so that one last attempt fits in the budget
      delayMs = room;
      lastChance = true;
    }
    hooks.onEvent?.({ type: 'retry', call: name, address, error: v.cause, attempt: attempts, delayMs });
    if (!quick) waits += 1;
    if (delayMs > 0) await clock.sleep(delayMs);
  }
}
