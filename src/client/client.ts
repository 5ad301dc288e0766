// Client library of the reference licence server: checkout / renew / release, each retried with
// the same request within a time budget through a failover (retry-policy.ts: what is retried,
// where, how long), over keep-alive connections that are dropped when a member stops serving
// (transport.ts), and a heartbeat that renews every held lease until it is released.
//
// A client holds at most one lease per feature (the server's checkout is idempotent per client
// id and feature), so retrying a checkout through a failover never takes a second seat.
import type { LeaseJson } from '../license-server/protocol.ts';
import { LeaseLostError, LicenseError } from './errors.ts';
import { MIN_ATTEMPT_MS, RETRY_DEFAULTS, Route, renewDelayMs, runCall } from './retry-policy.ts';
import type { Clock, LeaseCall, RetryEvent, RetryOptions } from './retry-policy.ts';
import { Transport } from './transport.ts';
import type { PemSource } from './transport.ts';

export type { LeaseJson } from '../license-server/protocol.ts';
export {
  LeaseLostError,
  LicenseError,
  LicenseRefusedError,
  LicenseUnavailableError,
  NoSeatError,
} from './errors.ts';
export { RETRY_DEFAULTS } from './retry-policy.ts';
export { TlsCertificateError } from './tls-errors.ts';
export type { TlsProblem } from './tls-errors.ts';
export type { PemSource } from './transport.ts';

export type ClientEvent =
  | RetryEvent
  | { type: 'renewed'; lease: LeaseJson }
  /** a background renewal got a retryable outcome (once per renewal); it keeps retrying until the lease expires */
  | { type: 'renew-failed'; feature: string; leaseId: string; error: string }
  /** the heartbeat found the lease gone, or could not renew it before it expired */
  | { type: 'lease-lost'; feature: string; leaseId: string; error: string; reason: LeaseLostError };

export type LicenseClientOptions = {
  /** the pair's Service URL, or a list of member URLs tried in order */
  addresses: string[] | string;
  clientId: string;
  user: string;
  host: string;
  token?: string | undefined;
  /**
   * For https:// addresses: the pair's CA bundle (ca.crt of its ConfigMap <pair>-ca), PEM. A function is
   * read again for each request, so a bundle rotated on disk is picked up without a restart.
   */
  ca?: PemSource | undefined;
  /** a client certificate and its key (PEM), for a server that asks for one */
  cert?: PemSource | undefined;
  key?: PemSource | undefined;
  /**
   * The name the server's certificate must hold, when the addresses are IPs (a client outside the
   * cluster dialling a Service's cluster IP): for example `<pair>.<namespace>.svc`. Without it,
   * the host of each address is checked.
   */
  servername?: string | undefined;
  /** one attempt: connect, request, answer (default 2000 ms; clamped to what is left of the budget) */
  requestTimeoutMs?: number;
  /** how long one checkout/renew/release keeps retrying before it throws LicenseUnavailableError (default 10 000 ms) */
  retryBudgetMs?: number;
  /**
   * Hedged attempts (off by default): an attempt not answered after this many ms is joined by
   * another on a new connection, and again every interval, up to `hedgeMaxInFlight` (default 4)
   * at once; the first answer wins. Through the pair's Service this rides over a hung member in
   * about the time the Service takes to move, instead of `requestTimeoutMs`.
   */
  hedgeAfterMs?: number;
  hedgeMaxInFlight?: number;
  /** first wait between attempts (default 100 ms), doubling up to backoffMaxMs (default 500 ms), jittered */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** renew held leases in the background (default true) */
  autoRenew?: boolean;
  onEvent?: (e: ClientEvent) => void;
};

type Held = {
  lease: LeaseJson;
  /** when the lease expires unless renewed, on this process's monotonic clock (a lower bound) */
  expiresAt: number;
  timer: NodeJS.Timeout | undefined;
  renewing: boolean;
};

const clock: Clock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export class LicenseClient {
  private readonly route: Route;
  private readonly transport: Transport;
  private readonly retry: RetryOptions;
  private readonly o: {
    clientId: string;
    user: string;
    host: string;
    token: string | undefined;
    autoRenew: boolean;
    onEvent: (e: ClientEvent) => void;
  };
  private readonly held = new Map<string, Held>();
  private closed = false;

  constructor(opts: LicenseClientOptions) {
    this.route = new Route(Array.isArray(opts.addresses) ? opts.addresses : [opts.addresses]);
    if ((opts.cert === undefined) !== (opts.key === undefined))
      throw new TypeError('a client certificate needs both cert and key');
    if (opts.hedgeAfterMs !== undefined && !(opts.hedgeAfterMs > 0))
      throw new TypeError(`hedgeAfterMs must be a positive number of ms, not ${opts.hedgeAfterMs}`);
    if (
      opts.hedgeMaxInFlight !== undefined &&
      !(Number.isInteger(opts.hedgeMaxInFlight) && opts.hedgeMaxInFlight >= 1)
    )
      throw new TypeError(
        `hedgeMaxInFlight must be a whole number of at least 1, not ${opts.hedgeMaxInFlight}`,
      );
    this.transport = new Transport({
      ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
      ...(opts.cert !== undefined ? { cert: opts.cert } : {}),
      ...(opts.key !== undefined ? { key: opts.key } : {}),
      ...(opts.servername !== undefined ? { servername: opts.servername } : {}),
    });
    this.retry = {
      budgetMs: opts.retryBudgetMs ?? RETRY_DEFAULTS.budgetMs,
      attemptTimeoutMs: opts.requestTimeoutMs ?? RETRY_DEFAULTS.attemptTimeoutMs,
      backoffBaseMs: opts.backoffBaseMs ?? RETRY_DEFAULTS.backoffBaseMs,
      backoffMaxMs: opts.backoffMaxMs ?? RETRY_DEFAULTS.backoffMaxMs,
      ...(opts.hedgeAfterMs !== undefined
        ? { hedge: { hedgeAfterMs: opts.hedgeAfterMs, maxInFlight: opts.hedgeMaxInFlight ?? 4 } }
        : {}),
    };
    this.o = {
      clientId: opts.clientId,
      user: opts.user,
      host: opts.host,
      token: opts.token,
      autoRenew: opts.autoRenew ?? true,
      onEvent: opts.onEvent ?? (() => {}),
    };
  }

  /** The address the next call goes to first. */
  get address(): string {
    return this.route.target;
  }

  /** Connections opened so far, per origin. */
  get connectionsOpened(): ReadonlyMap<string, number> {
    return this.transport.connections;
  }

  /** Leases this client holds, one per feature. */
  leases(): LeaseJson[] {
    return [...this.held.values()].map((h) => h.lease);
  }

  /**
   * Check out `count` seats of `feature` (the client's existing lease when it has one). Throws
   * NoSeatError, LicenseRefusedError or LicenseUnavailableError.
   */
  async checkout(feature: string, count = 1): Promise<LeaseJson> {
    const r = await this.call({ op: 'checkout', feature }, '/v1/checkout', {
      feature,
      count,
      clientId: this.o.clientId,
      user: this.o.user,
      host: this.o.host,
    });
    const lease = r.body.lease as LeaseJson;
    const h = this.held.get(lease.feature);
    if (h && h.lease.id === lease.id) this.renewed(h, lease, r.sentAt);
    else {
      if (h) clearTimeout(h.timer);
      const fresh: Held = { lease, expiresAt: 0, timer: undefined, renewing: false };
      this.held.set(lease.feature, fresh);
      this.renewed(fresh, lease, r.sentAt);
    }
    return lease;
  }

  /** Renew a lease now. Throws LeaseLostError when it is gone, LicenseUnavailableError, LicenseRefusedError. */
  async renew(leaseId: string): Promise<LeaseJson> {
    const h = this.heldById(leaseId);
    try {
      const r = await this.call({ op: 'renew', leaseId }, '/v1/renew', {
        leaseId,
        clientId: this.o.clientId,
      });
      const lease = r.body.lease as LeaseJson;
      if (h && this.held.get(h.lease.feature) === h) this.renewed(h, lease, r.sentAt);
      return lease;
    } catch (err) {
      if (err instanceof LeaseLostError && h && this.held.get(h.lease.feature) === h) this.forget(h);
      throw err;
    }
  }

  /**
   * Release a lease (renewals stop at once). A release repeated after an attempt with an unknown
   * outcome that finds the lease gone has succeeded; a lease already gone before throws LeaseLostError.
   */
  async release(leaseId: string): Promise<void> {
    const h = this.heldById(leaseId);
    if (h) this.forget(h);
    await this.call({ op: 'release', leaseId }, '/v1/release', { leaseId, clientId: this.o.clientId });
  }

  /** Release every held lease; throws the first error after trying them all. */
  async releaseAll(): Promise<void> {
    let first: unknown;
    for (const h of [...this.held.values()])
      await this.release(h.lease.id).catch((err: unknown) => {
        first ??= err;
      });
    if (first !== undefined) throw first;
  }

  /** Stop renewing and close the connections (leases expire on the server unless released). */
  close(): void {
    this.closed = true;
    for (const h of this.held.values()) clearTimeout(h.timer);
    this.transport.close();
  }

  private heldById(leaseId: string): Held | undefined {
    for (const h of this.held.values()) if (h.lease.id === leaseId) return h;
    return undefined;
  }

  private forget(h: Held): void {
    clearTimeout(h.timer);
    if (this.held.get(h.lease.feature) === h) this.held.delete(h.lease.feature);
  }

  /** The server returned `lease` to a request sent at `sentAt`: note it and schedule the next renewal. */
  private renewed(h: Held, lease: LeaseJson, sentAt: number): void {
    h.lease = lease;
    h.expiresAt = sentAt + lease.expiresInSeconds * 1000;
    clearTimeout(h.timer);
    h.timer = undefined;
    if (!this.o.autoRenew || this.closed) return;
    h.timer = setTimeout(() => void this.heartbeat(h), renewDelayMs(lease));
    h.timer.unref();
  }

  /**
   * Renew a held lease in the background. The renewal keeps retrying until the lease would
   * expire (not just for the call budget): a failover shorter than the rest of the lease's life
   * costs nothing. A lease that is gone, or not renewed in time, is reported as `lease-lost`.
   */
  private async heartbeat(h: Held): Promise<void> {
    if (this.closed || h.renewing || this.held.get(h.lease.feature) !== h) return;
    h.renewing = true;
    const { id, feature } = h.lease;
    try {
      const left = h.expiresAt - clock.now();
      let reported = false;
      const r = await this.call(
        { op: 'renew', leaseId: id },
        '/v1/renew',
        { leaseId: id, clientId: this.o.clientId },
        Math.max(left, MIN_ATTEMPT_MS),
        (e) => {
          if (e.type !== 'retry' || reported) return;
          reported = true;
          this.o.onEvent({ type: 'renew-failed', feature, leaseId: id, error: `${e.address}: ${e.error}` });
        },
      );
      h.renewing = false;
      if (this.closed || this.held.get(feature) !== h || h.lease.id !== id) return;
      const lease = r.body.lease as LeaseJson;
      this.renewed(h, lease, r.sentAt);
      this.o.onEvent({ type: 'renewed', lease });
    } catch (err) {
      h.renewing = false;
      if (this.closed || this.held.get(feature) !== h || h.lease.id !== id) return;
      const reason =
        err instanceof LeaseLostError
          ? err
          : new LeaseLostError(
              id,
              'NOT_RENEWED',
              `lease ${id} of ${feature} was not renewed before it expired: ${(err as Error).message}`,
              err instanceof LicenseError ? err.status : 0,
              { cause: err },
            );
      this.forget(h);
      this.o.onEvent({ type: 'lease-lost', feature, leaseId: id, error: reason.message, reason });
    }
  }

  /** One call with retries; `sentAt`: when its last (successful) attempt was sent. */
  private async call(
    call: LeaseCall,
    path: string,
    body: unknown,
    budgetMs = this.retry.budgetMs,
    onRetryEvent?: (e: RetryEvent) => void,
  ): Promise<{ body: Record<string, unknown>; sentAt: number }> {
    let sentAt = clock.now();
    const result = await runCall(
      call,
      (address, timeoutMs) => {
        sentAt = clock.now();
        return this.transport.post(address, path, body, { timeoutMs, token: this.o.token });
      },
      this.route,
      { ...this.retry, budgetMs },
      clock,
      Math.random,
      {
        onEvent: (e) => {
          onRetryEvent?.(e);
          this.o.onEvent(e);
        },
        onRetryable: (address) => this.transport.forget(address),
      },
    );
    return { body: result, sentAt };
  }
}
