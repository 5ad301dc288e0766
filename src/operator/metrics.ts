import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The operator's metrics: controller-runtime's standard names (so existing controller dashboards
 * work) and the product's own, per pair and member. Per-pair series are removed when a pair goes.
 */
export const CONTROLLER = 'licenseserverpair';

/** What queues a pair's reconcile (lpo_reconcile_triggers_total{source}). */
export const TRIGGER_SOURCES = [
  'pair',
  'resync',
  'pod',
  'child',
  'node',
  'probe-failure',
  'probe-healthy',
  'probe-changed',
] as const;
export type TriggerSource = (typeof TRIGGER_SOURCES)[number];

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const pairLabels = ['namespace', 'pair'] as const;
  const memberLabels = ['namespace', 'pair', 'member'] as const;
  const m = {
    registry,
    reconcileTotal: new Counter({
      name: 'controller_runtime_reconcile_total',
      help: 'Total number of reconciliations per controller',
      labelNames: ['controller', 'result'],
      registers: [registry],
    }),
    reconcileErrors: new Counter({
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Total number of reconciliation errors per controller',
      labelNames: ['controller'],
      registers: [registry],
    }),
    reconcileTime: new Histogram({
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Length of time per reconciliation per controller',
      labelNames: ['controller'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    maxConcurrent: new Gauge({
      name: 'controller_runtime_max_concurrent_reconciles',
      help: 'Maximum number of concurrent reconciles per controller',
      labelNames: ['controller'],
      registers: [registry],
    }),
    activeWorkers: new Gauge({
      name: 'controller_runtime_active_workers',
      help: 'Number of currently used workers per controller',
      labelNames: ['controller'],
      registers: [registry],
    }),
    apiRequests: new Counter({
      name: 'rest_client_requests_total',
      help: 'Number of HTTP requests to the Kubernetes API, partitioned by verb and status code class',
      labelNames: ['method', 'code'],
      registers: [registry],
    }),
    apiWrites: new Counter({
      name: 'lpo_api_writes_total',
      help: 'Writes to the Kubernetes API by verb and resource',
      labelNames: ['verb', 'resource'],
      registers: [registry],
    }),
    reconcileTriggers: new Counter({
      name: 'lpo_reconcile_triggers_total',
      help: 'Reconciles asked for, by what asked (pair, resync, pod, child, node, probe-failure, probe-healthy, probe-changed)',
      labelNames: ['source'],
      registers: [registry],
    }),
    pairInfo: new Gauge({
      name: 'lpo_pair_info',
      help: 'Pair state as labels (always 1)',
      labelNames: ['namespace', 'pair', 'live_member', 'phase'],
      registers: [registry],
    }),
    pairReady: new Gauge({
      name: 'lpo_pair_ready',
      help: "1 when the pair's Ready condition is True (the live member serves through the Service), else 0; reason is the condition's reason",
      labelNames: ['namespace', 'pair', 'reason'],
      registers: [registry],
    }),
    pairLicenceExpiry: new Gauge({
      name: 'lpo_pair_licence_expiry_timestamp_seconds',
      help: 'When the first feature of the licence in force expires (Unix time)',
      labelNames: pairLabels,
      registers: [registry],
    }),
    memberCertificateExpiry: new Gauge({
      name: 'lpo_member_certificate_expiry_timestamp_seconds',
      help: "When the member's TLS certificate that the operator issued expires (Unix time); renewed at two thirds of its lifetime",
      labelNames: ['namespace', 'pair', 'member'],
      registers: [registry],
    }),
    operatorCertificateExpiry: new Gauge({
      name: 'lpo_operator_certificate_expiry_timestamp_seconds',
      help: "When the operator's own client certificate for calls to TLS members expires (Unix time)",
      registers: [registry],
    }),
    pairLicenceWarning: new Gauge({
      name: 'lpo_pair_licence_warning_seconds',
      help: 'How long before a licence expiry the pair warns (spec.server.license.expiryWarningDays)',
      labelNames: pairLabels,
      registers: [registry],
    }),
    pairLicenceUpdateRefused: new Gauge({
      name: 'lpo_pair_licence_update_refused',
      help: '1 while a member refused a new licence file and serves the previous one',
      labelNames: pairLabels,
      registers: [registry],
    }),
    pairLive: new Gauge({
      name: 'lpo_pair_live',
      help: '1 when a member of the pair is live (the Service selects it), 0 when none',
      labelNames: pairLabels,
      registers: [registry],
    }),
    pairLiveMember: new Gauge({
      name: 'lpo_pair_live_member',
      help: '1 for the live member of the pair, 0 for the other',
      labelNames: memberLabels,
      registers: [registry],
    }),
    pairStandbyReady: new Gauge({
      name: 'lpo_pair_standby_ready',
      help: '1 when the standby member could take over',
      labelNames: pairLabels,
      registers: [registry],
    }),
    pairServingAlone: new Gauge({
      name: 'lpo_pair_serving_alone',
      help: "1 while the pair's live member serves alone under the operator's grants; the standby is not promotable until it has resynced",
      labelNames: pairLabels,
      registers: [registry],
    }),
    pairLiveSince: new Gauge({
      name: 'lpo_pair_live_since_timestamp_seconds',
      help: 'Since when the live member serves (Unix time)',
      labelNames: pairLabels,
      registers: [registry],
    }),
    pairOnPreferred: new Gauge({
      name: 'lpo_pair_on_preferred_member',
      help: '1 when the preferred member is live',
      labelNames: pairLabels,
      registers: [registry],
    }),
    memberHealthy: new Gauge({
      name: 'lpo_member_healthy',
      help: "1 when the member passes the operator's health check",
      labelNames: memberLabels,
      registers: [registry],
    }),
    memberProbeSeconds: new Gauge({
      name: 'lpo_member_probe_duration_seconds',
      help: 'Latency of the last health check of the member',
      labelNames: memberLabels,
      registers: [registry],
    }),
    memberLastProbe: new Gauge({
      name: 'lpo_member_last_probe_timestamp_seconds',
      help: 'When the operator last checked the member (Unix time); status records only changes of the result',
      labelNames: [...memberLabels, 'result'],
      registers: [registry],
    }),
    memberReplicationLag: new Gauge({
      name: 'lpo_member_replication_lag_seconds',
      help: 'Replication lag the member reports',
      labelNames: memberLabels,
      registers: [registry],
    }),
    failovers: new Counter({
      name: 'lpo_failovers_total',
      help: 'Moves of the client Service between members, by reason',
      labelNames: ['namespace', 'pair', 'reason'],
      registers: [registry],
    }),
    detectionToSwitch: new Histogram({
      name: 'lpo_failover_detection_to_switch_seconds',
      help: 'From the first sign of failure to the Service pointing at the other member',
      labelNames: ['action'],
      buckets: [0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 21, 34, 60],
      registers: [registry],
    }),
    probeDuration: new Histogram({
      name: 'lpo_probe_duration_seconds',
      help: 'Health-check latency of all members',
      labelNames: ['result'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
  };
  // Like controller-runtime: every series exists from the start, so rate() and alerts see 0, not nothing.
  for (const result of ['success', 'error', 'requeue', 'requeue_after'])
    m.reconcileTotal.inc({ controller: CONTROLLER, result }, 0);
  m.reconcileErrors.inc({ controller: CONTROLLER }, 0);
  for (const source of TRIGGER_SOURCES) m.reconcileTriggers.inc({ source }, 0);
  m.maxConcurrent.set({ controller: CONTROLLER }, 0);
  m.activeWorkers.set({ controller: CONTROLLER }, 0);
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Per-pair series, so a deleted pair leaves no stale series behind. */
export class PairSeries {
  private readonly info = new Map<string, Record<string, string>>();
  private readonly reasons = new Map<string, Set<string>>();
  private readonly readyReason = new Map<string, string>();
  private readonly m: Metrics;

  constructor(m: Metrics) {
    this.m = m;
  }

  setInfo(namespace: string, pair: string, liveMember: string, phase: string): void {
    const key = `${namespace}/${pair}`;
    const labels = { namespace, pair, live_member: liveMember, phase };
    const prev = this.info.get(key);
    if (prev && (prev.live_member !== liveMember || prev.phase !== phase)) this.m.pairInfo.remove(prev);
    this.m.pairInfo.set(labels, 1);
    this.info.set(key, labels);
  }

  /** lpo_pair_ready: one series per pair, under the Ready condition's current reason. */
  setReady(namespace: string, pair: string, ready: boolean, reason: string): void {
    const key = `${namespace}/${pair}`;
    const prev = this.readyReason.get(key);
    if (prev !== undefined && prev !== reason) this.m.pairReady.remove({ namespace, pair, reason: prev });
    this.m.pairReady.set({ namespace, pair, reason }, ready ? 1 : 0);
    this.readyReason.set(key, reason);
  }

  failover(namespace: string, pair: string, reason: string): void {
    const key = `${namespace}/${pair}`;
    this.m.failovers.inc({ namespace, pair, reason });
    const set = this.reasons.get(key) ?? new Set<string>();
    set.add(reason);
    this.reasons.set(key, set);
  }

  forget(namespace: string, pair: string): void {
    const key = `${namespace}/${pair}`;
    const info = this.info.get(key);
    if (info) this.m.pairInfo.remove(info);
    this.info.delete(key);
    for (const reason of this.reasons.get(key) ?? []) this.m.failovers.remove({ namespace, pair, reason });
    this.reasons.delete(key);
    const ready = this.readyReason.get(key);
    if (ready !== undefined) this.m.pairReady.remove({ namespace, pair, reason: ready });
    this.readyReason.delete(key);
    for (const g of [
      this.m.pairLive,
      this.m.pairStandbyReady,
      this.m.pairServingAlone,
      this.m.pairLiveSince,
      this.m.pairOnPreferred,
      this.m.pairLicenceExpiry,
      this.m.pairLicenceWarning,
      this.m.pairLicenceUpdateRefused,
    ])
      g.remove({ namespace, pair });
    for (const member of ['primary', 'redundant']) {
      for (const result of ['success', 'failure'])
        this.m.memberLastProbe.remove({ namespace, pair, member, result });
      for (const g of [
        this.m.pairLiveMember,
        this.m.memberHealthy,
        this.m.memberProbeSeconds,
        this.m.memberReplicationLag,
        this.m.memberCertificateExpiry,
      ]) {
        g.remove({ namespace, pair, member });
      }
    }
  }
}
