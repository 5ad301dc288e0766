import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { concrete, loadDashboard, metricNames, panels } from './dashboard-lib.ts';
import { chartDir, repoRoot, run } from './lib.ts';

// Static checks of the Grafana dashboard: structure, variables, every panel has queries, every
// query parses (promtool checks it as a recording rule) and names only metrics the operator or the
// licence server export. Whether each query returns data from a real Prometheus scraping a running
// pair is test/chart/dashboard-queries.test.ts. (Grafana's own dashboard linter is a Go module the
// module proxy refuses to serve here, so it is not run.)

const d = loadDashboard();

/** Metric names the code registers (prom-client `name:`), histograms with their series suffixes. */
function exportedMetrics(): Set<string> {
  const names = new Set<string>();
  const operator = readFileSync(path.join(repoRoot, 'src/operator/metrics.ts'), 'utf8');
  const server = readFileSync(path.join(repoRoot, 'src/license-server/metrics.ts'), 'utf8');
  const add = (name: string, histogram: boolean) => {
    names.add(name);
    if (histogram) for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
  };
  for (const m of operator.matchAll(/new (Counter|Gauge|Histogram)\(\{ name: '([a-z_]+)'/g))
    add(m[2]!, m[1] === 'Histogram');
  for (const m of server.matchAll(/name: `\$\{p\}([a-z_]+)`/g)) add(`license_server_${m[1]!}`, false);
  // Written by other modules of the operator (work queue, leader election) under controller-runtime's names.
  const kube = ['workqueue.ts', 'leader-election.ts'].map((f) => {
    try {
      return readFileSync(path.join(repoRoot, 'src/kube', f), 'utf8');
    } catch {
      return '';
    }
  });
  for (const text of [operator, ...kube])
    for (const m of text.matchAll(/new (Counter|Gauge|Histogram)\(\{\s*name: '([a-z_]+)'/g))
      add(m[2]!, m[1] === 'Histogram');
  // The contract lists these too (docs of the operator); they may be registered outside metrics.ts.
  for (const n of [
    'workqueue_depth',
    'workqueue_adds_total',
    'workqueue_retries_total',
    'leader_election_master_status',
  ])
    names.add(n);
  for (const n of ['workqueue_queue_duration_seconds', 'workqueue_work_duration_seconds']) add(n, true);
  return names;
}

describe('the Grafana dashboard', () => {
  it('has a uid, a title and namespace/pair variables fed from lpo_pair_info', () => {
    expect(d.uid).toBe('license-pair-operator');
    expect(d.title).toBeTruthy();
    const vars = Object.fromEntries(d.templating.list.map((v) => [v.name, v]));
    expect(vars.datasource?.type).toBe('datasource');
    expect(JSON.stringify(vars.namespace?.query)).toContain('lpo_pair_info');
    expect(JSON.stringify(vars.pair?.query)).toContain('lpo_pair_info');
  });

  it('every panel has targets with a non-empty expr, unique refIds and unique panel ids', () => {
    const all = panels(d);
    expect(all.length).toBeGreaterThanOrEqual(20);
    const ids = d.panels.flatMap((p) => [p.id, ...(p.panels ?? []).map((q) => q.id)]);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of all) {
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      const refs = p.targets!.map((t) => t.refId);
      expect(new Set(refs).size, p.title).toBe(refs.length);
      for (const t of p.targets!) expect(t.expr.trim(), `${p.title} ${t.refId}`).not.toBe('');
    }
  });

  it('covers what the issue asks for', () => {
    const titles = panels(d).map((p) => p.title.toLowerCase());
    const exprs = panels(d).flatMap((p) => p.targets!.map((t) => t.expr));
    for (const metric of [
      'lpo_pair_info',
      'lpo_pair_live_member',
      'lpo_pair_ready',
      'lpo_pair_licence_expiry_timestamp_seconds',
      'lpo_failovers_total',
      'lpo_failover_detection_to_switch_seconds_bucket',
      'lpo_member_healthy',
      'lpo_member_probe_duration_seconds',
      'lpo_member_replication_lag_seconds',
      'license_server_seats_in_use',
      'license_server_seats_licensed',
      'license_server_denials_total',
      'controller_runtime_reconcile_total',
      'controller_runtime_reconcile_errors_total',
      'workqueue_depth',
      'leader_election_master_status',
    ])
      expect(
        exprs.some((e) => e.includes(metric)),
        metric,
      ).toBe(true);
    expect(titles.some((t) => t.includes('denials by reason'))).toBe(true);
  });

  it('queries only metrics the operator and the licence server export, filtered by $namespace/$pair', () => {
    const known = exportedMetrics();
    for (const p of panels(d))
      for (const t of p.targets!) {
        for (const name of metricNames(t.expr)) expect(known, `${p.title}: ${name}`).toContain(name);
        if (/\b(lpo_pair_|lpo_member_|license_server_)/.test(t.expr)) {
          expect(t.expr, p.title).toContain('namespace=~"$namespace"');
          expect(t.expr, p.title).toContain('pair=~"$pair"');
        }
      }
  });

  it('every query parses (promtool check rules, one recording rule per query)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lpo-dashboard-'));
    try {
      const rules = panels(d).flatMap((p) =>
        p.targets!.map((t) => ({ record: `dashboard:panel_${p.id}_${t.refId}`, expr: concrete(t.expr) })),
      );
      const file = path.join(dir, 'rules.yaml');
      writeFileSync(file, YAML.stringify({ groups: [{ name: 'dashboard', rules }] }));
      const r = run('promtool', ['check', 'rules', file]);
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain(`SUCCESS: ${rules.length} rules found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the alerts name only exported metrics too', () => {
    const known = exportedMetrics();
    const alerts = YAML.parse(readFileSync(path.join(chartDir, 'files/alerts.yaml'), 'utf8')) as {
      groups: { rules: { alert: string; expr: string }[] }[];
    };
    for (const a of alerts.groups.flatMap((g) => g.rules))
      for (const name of metricNames(a.expr).filter((n) => n !== 'up'))
        expect(known, `${a.alert}: ${name}`).toContain(name);
  });
});
