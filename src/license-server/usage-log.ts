// What a member records of the lease requests it answers: the checkout and denial counters of
// the metrics, and the usage log (one JSON line per checkout and release, docs/license-server.md).
import type { Logger } from 'pino';
import type { CheckoutRequest, Denial, Granted, Lease } from './ledger.ts';
import type { Metrics } from './metrics.ts';

export class UsageRecorder {
  private readonly metrics: Metrics;
  /** undefined: LS_USAGE_LOG=off */
  private readonly log: Logger | undefined;

  constructor(metrics: Metrics, log: Logger | undefined) {
    this.metrics = metrics;
    this.log = log;
  }

  checkout(req: CheckoutRequest, r: Granted | Denial): void {
    const feature = r.ok || r.code !== 'UNKNOWN_FEATURE' ? req.feature : '(unknown)';
    if (r.ok) this.metrics.checkouts.inc({ feature, result: r.existing ? 'existing' : 'granted' });
    else {
      this.metrics.checkouts.inc({ feature, result: 'denied' });
      this.metrics.denials.inc({ feature, reason: r.code });
    }
    this.log?.info({
      event: 'checkout',
      client: req.clientId,
      user: req.user,
      host: req.host,
      feature: req.feature,
      count: req.count,
      result: r.ok ? 'accepted' : 'denied',
      reason: r.ok ? (r.existing ? 'EXISTING' : 'GRANTED') : r.code,
      ...(r.ok ? { leaseId: r.lease.id } : {}),
    });
  }

  release(clientId: string, leaseId: string, lease: Lease): void {
    this.log?.info({
      event: 'release',
      client: clientId,
      user: lease.user,
      host: lease.host,
      feature: lease.feature,
      leaseId,
    });
  }

  denial(feature: string, code: string): void {
    this.metrics.denials.inc({ feature, reason: code });
  }
}
