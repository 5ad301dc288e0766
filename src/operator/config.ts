import { z } from 'zod';

/** The operator's settings, from the environment (the Helm chart sets them). */
const boolish = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const EnvSchema = z.object({
  WATCH_NAMESPACE: z.string().default(''),
  OPERATOR_NAMESPACE: z.string().default('default'),
  POD_NAME: z.string().optional(),
  // The operator pods' labels (k=v,k=v), so each pair's NetworkPolicy admits them; the chart sets it.
  OPERATOR_POD_LABELS: z.string().default(''),
  LEADER_ELECT: boolish.default(true),
  LEASE_NAME: z.string().default('license-pair-operator-leader'),
  LEASE_DURATION_SECONDS: z.coerce.number().positive().default(15),
  RENEW_DEADLINE_SECONDS: z.coerce.number().positive().default(10),
  RETRY_PERIOD_SECONDS: z.coerce.number().positive().default(2),
  METRICS_ADDR: z.string().default(':8080'),
  HEALTH_ADDR: z.string().default(':8081'),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'),
  MAX_CONCURRENT_RECONCILES: z.coerce.number().int().min(1).max(64).default(4),
  PROBE_CONCURRENCY: z.coerce.number().int().min(1).max(1024).default(128),
  // The standby's held status read (detection.ts): a hung or dead live member is checked as soon as
  // its standby stops hearing it. 'false' leaves detection to the checks' period.
  STANDBY_SILENCE_WATCH: z.enum(['true', 'false']).default('true'),
  RESYNC_SECONDS: z.coerce.number().positive().default(300),
  // Certificates the operator issues (spec.tls.mode Operator). A member's lasts 30 days and is
  // renewed after 20; the operator's own, in memory only, a day; the CA ten years, its successor
  // in the trust bundle for TLS_CA_PROPAGATION_SECONDS before it issues.
  TLS_CA_LIFETIME_SECONDS: z.coerce
    .number()
    .int()
    .positive()
    .default(10 * 365 * 86_400),
  TLS_CA_PROPAGATION_SECONDS: z.coerce.number().int().min(0).default(600),
  TLS_MEMBER_CERT_LIFETIME_SECONDS: z.coerce
    .number()
    .int()
    .positive()
    .default(30 * 86_400),
  TLS_OPERATOR_CERT_LIFETIME_SECONDS: z.coerce.number().int().positive().default(86_400),
  CLUSTER_DOMAIN: z.string().min(1).default('cluster.local'),
});

export interface OperatorConfig {
  watchNamespaces: string[];
  operatorNamespace: string;
  /** Labels of the operator's own pods; empty when it runs outside the cluster. */
  operatorPodLabels: Record<string, string>;
  identity: string;
  leaderElect: boolean;
  leaseName: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  metricsAddr: { host: string; port: number };
  healthAddr: { host: string; port: number };
  logLevel: string;
  maxConcurrentReconciles: number;
  probeConcurrency: number;
  /** Hold a status read on each standby to learn of its active's silence at once (detection.ts). */
  standbySilenceWatch: boolean;
  resyncMs: number;
  tls: {
    caLifetimeMs: number;
    caPropagationMs: number;
    memberLifetimeMs: number;
    operatorLifetimeMs: number;
    clusterDomain: string;
  };
}

function addr(v: string): { host: string; port: number } {
  const i = v.lastIndexOf(':');
  const host = v.slice(0, i);
  const port = Number(v.slice(i + 1));
  if (i < 0 || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`invalid address "${v}" (want host:port or :port)`);
  return { host: host === '' ? '0.0.0.0' : host, port };
}

function labels(v: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const i = item.indexOf('=');
    if (i <= 0) throw new Error(`invalid OPERATOR_POD_LABELS entry "${item}" (want key=value)`);
    out[item.slice(0, i)] = item.slice(i + 1);
  }
  return out;
}

export function loadConfig(env: NodeJS.ProcessEnv, hostname: string): OperatorConfig {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid operator settings: ${problems}`);
  }
  const e = parsed.data;
  return {
    watchNamespaces: e.WATCH_NAMESPACE.split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    operatorNamespace: e.OPERATOR_NAMESPACE,
    operatorPodLabels: labels(e.OPERATOR_POD_LABELS),
    identity: e.POD_NAME ?? `${hostname}-${process.pid}`,
    leaderElect: e.LEADER_ELECT,
    leaseName: e.LEASE_NAME,
    leaseDurationMs: e.LEASE_DURATION_SECONDS * 1000,
    renewDeadlineMs: e.RENEW_DEADLINE_SECONDS * 1000,
    retryPeriodMs: e.RETRY_PERIOD_SECONDS * 1000,
    metricsAddr: addr(e.METRICS_ADDR),
    healthAddr: addr(e.HEALTH_ADDR),
    logLevel: e.LOG_LEVEL,
    maxConcurrentReconciles: e.MAX_CONCURRENT_RECONCILES,
    probeConcurrency: e.PROBE_CONCURRENCY,
    standbySilenceWatch: e.STANDBY_SILENCE_WATCH === 'true',
    resyncMs: e.RESYNC_SECONDS * 1000,
    tls: {
      caLifetimeMs: e.TLS_CA_LIFETIME_SECONDS * 1000,
      caPropagationMs: e.TLS_CA_PROPAGATION_SECONDS * 1000,
      memberLifetimeMs: e.TLS_MEMBER_CERT_LIFETIME_SECONDS * 1000,
      operatorLifetimeMs: e.TLS_OPERATOR_CERT_LIFETIME_SECONDS * 1000,
      clusterDomain: e.CLUSTER_DOMAIN,
    },
  };
}
