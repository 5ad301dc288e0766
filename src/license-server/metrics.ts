// Prometheus metrics of a member, in its own registry (served on the metrics port).
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { grants } from './serving-rights.ts';
import type { Right } from './serving-rights.ts';

export type MetricsSource = {
  usage(): { name: string; seats: number; inUse: number }[];
  activeLeases(): number;
  role(): 'active' | 'standby';
  epoch(): number;
  lag(): { entries: number; seconds: number };
  peerLastSeenSeconds(): number | null;
  licenceValid(): boolean;
  /** the serving right held now (docs/reliability.md) */
  serving(): Right | 'standby';
};

export type Metrics = {
  registry: Registry;
  checkouts: Counter<'feature' | 'result'>;
  denials: Counter<'feature' | 'reason'>;
  licenceReloads: Counter<'result'>;
  quorumRefusals: Counter<'reason'>;
};

export function createMetrics(src: MetricsSource): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const p = 'license_server_';
  new Gauge({
    name: `${p}seats_licensed`,
    help: 'Seats licensed per feature',
    labelNames: ['feature'],
    registers: [registry],
    collect() {
      this.reset();
      for (const f of src.usage()) this.set({ feature: f.name }, f.seats);
    },
  });
  new Gauge({
    name: `${p}seats_in_use`,
    help: 'Seats held by leases per feature',
    labelNames: ['feature'],
    registers: [registry],
    collect() {
      this.reset();
      for (const f of src.usage()) this.set({ feature: f.name }, f.inUse);
    },
  });
  const checkouts = new Counter({
    name: `${p}checkouts_total`,
    help: 'Checkout requests by feature and result (granted, existing, denied)',
    labelNames: ['feature', 'result'],
    registers: [registry],
  });
  const denials = new Counter({
    name: `${p}denials_total`,
    help: 'Denied requests by feature and reason (denial code)',
    labelNames: ['feature', 'reason'],
    registers: [registry],
  });
  const licenceReloads = new Counter({
    name: `${p}license_reloads_total`,
    help: 'Licence file loads by result (ok, refused)',
    labelNames: ['result'],
    registers: [registry],
  });
  new Gauge({
    name: `${p}active_leases`,
    help: 'Leases currently held',
    registers: [registry],
    collect() {
      this.set(src.activeLeases());
    },
  });
  new Gauge({
    name: `${p}role`,
    help: 'Role of this member (1 for the current role)',
    labelNames: ['role'],
    registers: [registry],
    collect() {
      const r = src.role();
      this.set({ role: 'active' }, r === 'active' ? 1 : 0);
      this.set({ role: 'standby' }, r === 'standby' ? 1 : 0);
    },
  });
  new Gauge({
    name: `${p}replication_lag_entries`,
    help: 'Log entries the standby has not acknowledged (active) or not received (standby)',
    registers: [registry],
    collect() {
      this.set(src.lag().entries);
    },
  });
  new Gauge({
    name: `${p}replication_lag_seconds`,
    help: 'Age of the oldest entry the standby does not have',
    registers: [registry],
    collect() {
      this.set(src.lag().seconds);
    },
  });
  new Gauge({
    name: `${p}peer_last_seen_seconds`,
    help: 'Seconds since the peer member was last heard from (-1: never)',
    registers: [registry],
    collect() {
      this.set(src.peerLastSeenSeconds() ?? -1);
    },
  });
  new Gauge({
    name: `${p}epoch`,
    help: 'Highest epoch this member has seen',
    registers: [registry],
    collect() {
      this.set(src.epoch());
    },
  });
  new Gauge({
    name: `${p}license_valid`,
    help: '1 when a valid licence is in force',
    registers: [registry],
    collect() {
      this.set(src.licenceValid() ? 1 : 0);
    },
  });
  new Gauge({
    name: `${p}serving`,
    help: '1 while this member may acknowledge lease changes (it holds a serving right); more than one per pair is a split brain',
    registers: [registry],
    collect() {
      this.set(grants(src.serving()) ? 1 : 0);
    },
  });
  new Gauge({
    name: `${p}serving_alone`,
    help: "1 while this member serves under the operator's solo grant (its standby is not in sync and not promotable)",
    registers: [registry],
    collect() {
      this.set(src.serving() === 'alone' ? 1 : 0);
    },
  });
  const quorumRefusals = new Counter({
    name: `${p}quorum_refusals_total`,
    help: 'Lease changes refused (NO_QUORUM) because this member could not prove a serving right',
    labelNames: ['reason'],
    registers: [registry],
  });
  // Every reason exists from the start, so that a rate over it is 0 rather than no data.
  for (const reason of ['NO_RIGHT', 'NOT_REPLICATED']) quorumRefusals.inc({ reason }, 0);
  return { registry, checkouts, denials, licenceReloads, quorumRefusals };
}
