// Client library of the reference licence server: checkout / renew / release with automatic
// renewal, retries with exponential backoff and jitter, NOT_ACTIVE redirects and an address list.
//
// A client holds at most one lease per feature (the server's checkout is idempotent per client
// id and feature), so retrying a checkout through a failover never takes a second seat.
import type { ErrorJson, LeaseJson } from '../license-server/protocol.ts';

export type { LeaseJson } from '../license-server/protocol.ts';

export type ClientEvent =
  | { type: 'renewed'; lease: LeaseJson }
  | { type: 'renew-failed'; feature: string; error: string }
  | { type: 'lease-replaced'; feature: string; oldId: string; lease: LeaseJson }
  | { type: 'lease-lost'; feature: string; leaseId: string; error: string }
  | { type: 'redirect'; from: string; to: string }
  | { type: 'retry'; address: string; error: string; attempt: number };

export type LicenseClientOptions = {
  /** the pair's Service URL, or a list of member URLs tried in order */
  addresses: string[] | string;
  clientId: string;
  user: string;
  host: string;
  token?: string | undefined;
  /** per request (default 3000 ms) */
  requestTimeoutMs?: number;
  /** how long one call keeps retrying before it gives up (default 20 000 ms) */
  retryBudgetMs?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** renew leases automatically at renewAfter (default true) */
  autoRenew?: boolean;
  onEvent?: (e: ClientEvent) => void;
};

/** A refusal by the server (a denial code) or a failure to reach any member (UNAVAILABLE). */
export class LicenseError extends Error {
  override name = 'LicenseError';
  readonly code: string;
  readonly status: number;
  readonly active: string | null | undefined;
  constructor(code: string, message: string, status: number, active?: string | null) {
    super(message);
    this.code = code;
    this.status = status;
    this.active = active;
  }
}

type Held = { lease: LeaseJson; count: number; timer: NodeJS.Timeout | undefined };

const RETRYABLE_CODES = new Set(['NOT_ACTIVE', 'NO_QUORUM', 'TIMEOUT', 'INTERNAL']);

export class LicenseClient {
  private addresses: string[];
  private current = 0;
  private readonly o: Required<Omit<LicenseClientOptions, 'token' | 'onEvent' | 'addresses'>> & {
    token: string | undefined;
    onEvent: (e: ClientEvent) => void;
  };
  private readonly held = new Map<string, Held>();
  private closed = false;

  constructor(opts: LicenseClientOptions) {
    const list = (Array.isArray(opts.addresses) ? opts.addresses : [opts.addresses]).map((a) =>
      a.replace(/\/+$/, ''),
    );
    if (list.length === 0) throw new Error('LicenseClient needs at least one address');
    this.addresses = list;
    this.o = {
      clientId: opts.clientId,
      user: opts.user,
      host: opts.host,
      token: opts.token,
      requestTimeoutMs: opts.requestTimeoutMs ?? 3000,
      retryBudgetMs: opts.retryBudgetMs ?? 20_000,
      backoffBaseMs: opts.backoffBaseMs ?? 100,
      backoffMaxMs: opts.backoffMaxMs ?? 2000,
      autoRenew: opts.autoRenew ?? true,
      onEvent: opts.onEvent ?? (() => {}),
    };
  }

  /** The address the client currently talks to. */
  get address(): string {
    return this.addresses[this.current] as string;
  }

  /** Leases this client holds, one per feature. */
  leases(): LeaseJson[] {
    return [...this.held.values()].map((h) => h.lease);
  }

  async checkout(feature: string, count = 1): Promise<LeaseJson> {
    const { lease } = await this.call<{ lease: LeaseJson }>('/v1/checkout', {
      feature,
      count,
      clientId: this.o.clientId,
      user: this.o.user,
      host: this.o.host,
    });
    this.hold(lease, count);
    return lease;
  }

  async renew(leaseId: string): Promise<LeaseJson> {
    const { lease } = await this.call<{ lease: LeaseJson }>('/v1/renew', {
      leaseId,
      clientId: this.o.clientId,
    });
    const h = this.held.get(lease.feature);
    this.hold(lease, h?.count ?? lease.count);
    return lease;
  }

  async release(leaseId: string): Promise<void> {
    for (const [feature, h] of this.held)
      if (h.lease.id === leaseId) {
        clearTimeout(h.timer);
        this.held.delete(feature);
      }
    await this.call('/v1/release', { leaseId, clientId: this.o.clientId }, true);
  }

  async releaseAll(): Promise<void> {
    for (const h of [...this.held.values()]) await this.release(h.lease.id);
  }

  /** Stop renewing (leases expire on the server unless released). */
  close(): void {
    this.closed = true;
    for (const h of this.held.values()) clearTimeout(h.timer);
  }

  private hold(lease: LeaseJson, count: number): void {
    const prev = this.held.get(lease.feature);
    if (prev) clearTimeout(prev.timer);
    const h: Held = { lease, count, timer: undefined };
    this.held.set(lease.feature, h);
    if (this.o.autoRenew && !this.closed) {
      const delay = Math.max(50, lease.renewAfterSeconds * 1000);
      h.timer = setTimeout(() => void this.autoRenew(lease.feature), delay);
      h.timer.unref();
    }
  }

  private async autoRenew(feature: string): Promise<void> {
    const h = this.held.get(feature);
    if (!h || this.closed) return;
    try {
      const lease = await this.renew(h.lease.id);
      this.o.onEvent({ type: 'renewed', lease });
    } catch (err) {
      if (this.closed || this.held.get(feature) !== h) return;
      const e = err as LicenseError;
      if (e.code === 'LEASE_NOT_FOUND' || e.code === 'LEASE_EXPIRED') {
        // The lease is gone (expired, revoked, or lost in an asynchronous failover): check
        // the feature out again; the server's idempotency keeps it to one seat.
        try {
          const lease = await this.checkout(feature, h.count);
          this.o.onEvent({ type: 'lease-replaced', feature, oldId: h.lease.id, lease });
        } catch (err2) {
          this.held.delete(feature);
          this.o.onEvent({
            type: 'lease-lost',
            feature,
            leaseId: h.lease.id,
            error: (err2 as Error).message,
          });
        }
        return;
      }
      this.o.onEvent({ type: 'renew-failed', feature, error: e.message });
      h.timer = setTimeout(() => void this.autoRenew(feature), 1000);
      h.timer.unref();
    }
  }

  /** POST with retries, failover across addresses and NOT_ACTIVE redirects. */
  private async call<T>(path: string, body: unknown, isRelease = false): Promise<T> {
    const deadline = Date.now() + this.o.retryBudgetMs;
    let attempt = 0;
    let lastError = '';
    let redirected = false;
    let retriedSameAddress = false;
    for (;;) {
      const address = this.address;
      let retryNow = false;
      try {
        const res = await fetch(`${address}${path}`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(this.o.token ? { authorization: `Bearer ${this.o.token}` } : {}),
          },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(this.o.requestTimeoutMs),
        });
        const json = (await res.json().catch(() => ({}))) as T & Partial<ErrorJson>;
        if (res.ok) return json;
        const code = json.code ?? `HTTP_${res.status}`;
        const message = json.message ?? `HTTP ${res.status}`;
        if (code === 'NOT_ACTIVE' && !retriedSameAddress) {
          // Through the pair's Service a NOT_ACTIVE usually means a connection kept alive from before
          // a switchover (the server closes it): the same address on a new connection reaches the
          // live member. The advertised member address may not even resolve outside the cluster.
          retriedSameAddress = true;
          retryNow = true;
        } else if (code === 'NOT_ACTIVE' && json.active && json.active !== address && !redirected) {
          this.o.onEvent({ type: 'redirect', from: address, to: json.active });
          this.useAddress(json.active);
          redirected = true;
          retryNow = true;
        } else if (!RETRYABLE_CODES.has(code) && res.status < 500) {
          // A retried release whose first attempt went through answers LEASE_NOT_FOUND: done.
          if (isRelease && attempt > 0 && code === 'LEASE_NOT_FOUND') return json;
          throw new LicenseError(code, message, res.status, json.active);
        } else {
          lastError = `${code}: ${message}`;
          this.rotate();
        }
      } catch (err) {
        if (err instanceof LicenseError) throw err;
        lastError = `${address}: ${(err as Error).message}`;
        this.rotate();
      }
      if (retryNow) continue;
      attempt += 1;
      redirected = false;
      if (Date.now() >= deadline)
        throw new LicenseError('UNAVAILABLE', `no licence server answered: ${lastError}`, 0);
      this.o.onEvent({ type: 'retry', address, error: lastError, attempt });
      // Full round of the list without luck: back off (exponential, with jitter).
      const exp = Math.min(this.o.backoffMaxMs, this.o.backoffBaseMs * 2 ** Math.min(attempt - 1, 10));
      const delay = Math.min(exp / 2 + Math.random() * (exp / 2), Math.max(0, deadline - Date.now()));
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  private rotate(): void {
    this.current = (this.current + 1) % this.addresses.length;
  }

  private useAddress(url: string): void {
    const u = url.replace(/\/+$/, '');
    let i = this.addresses.indexOf(u);
    if (i < 0) {
      this.addresses = [...this.addresses, u];
      i = this.addresses.length - 1;
    }
    this.current = i;
  }
}
