import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { dashboardPath, loadDashboard, panels, rowPanels } from '../dashboard-lib.ts';
import { renderDashboard, servingRow, uid } from './dashboard.ts';

// The shipped dashboard is generated: it must be exactly what dashboard.ts builds, and what it
// says must hold for the file Grafana reads, not only for the builder's output. Needs no cluster.

const d = loadDashboard();
const datasource = { type: 'prometheus', uid: '${datasource}' };

// Panel ids end up in users' links (viewPanel=<id>) and bookmarks: these must not be renumbered.
const handWritten: Record<number, string> = {
  1: 'Pairs',
  2: 'Live member per pair',
  3: 'Pairs without a live member',
  4: 'Standby ready',
  5: 'On preferred member',
  6: 'Live member over time',
  7: 'Time on the current live member',
  8: 'Failovers',
  9: 'Failovers and switchovers',
  10: 'Detection to switch',
  11: 'Members',
  12: 'Member health',
  13: 'Last probe latency',
  14: 'Probe latency (all members)',
  15: 'Replication lag (operator view)',
  16: 'Replication lag (servers)',
  17: 'Server role',
  18: 'Licences',
  19: 'Seats in use vs licensed',
  20: 'Seat usage',
  21: 'Active leases',
  22: 'Checkouts by result',
  23: 'Denials by reason',
  24: 'Licence valid',
  25: 'Operator',
  26: 'Reconciles by result',
  27: 'Reconcile errors',
  28: 'Reconcile duration',
  29: 'Work queue depth',
  30: 'Queue wait and work time',
  31: 'Workers',
  32: 'Leader',
};

describe('the generated Grafana dashboard', () => {
  it('files/dashboard.json is what test/chart/dashboard/dashboard.ts builds (run `npm run dashboard`)', async () => {
    expect(readFileSync(dashboardPath, 'utf8')).toBe(await renderDashboard());
  });

  it('keeps its uid and the data source, namespace and pair variables', () => {
    expect(d.uid).toBe(uid);
    expect(d.templating.list.map((v) => [v.name, v.type])).toEqual([
      ['datasource', 'datasource'],
      ['namespace', 'query'],
      ['pair', 'query'],
    ]);
  });

  it('every panel queries the chosen data source, with at least one non-empty expr', () => {
    for (const p of panels(d)) {
      expect(p.datasource, p.title).toEqual(datasource);
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      const refs = p.targets!.map((t) => t.refId);
      expect(new Set(refs).size, p.title).toBe(refs.length);
      for (const t of p.targets!) {
        expect(t.expr.trim(), `${p.title} ${t.refId}`).not.toBe('');
        expect(t.datasource, `${p.title} ${t.refId}`).toEqual(datasource);
      }
    }
  });

  it('panel ids are unique, and the ids of the hand-written dashboard keep their panels', () => {
    const all = d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
    const ids = all.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const titles = Object.fromEntries(all.map((p) => [p.id, p.title]));
    for (const [id, title] of Object.entries(handWritten)) expect(titles[id], `panel ${id}`).toBe(title);
  });

  it('panels tile the 24-column grid without overlapping', () => {
    const boxes = d.panels
      .flatMap((p) => [p, ...(p.panels ?? [])])
      .map((p) => ({ t: p.title, ...p.gridPos! }));
    for (const b of boxes) {
      expect(b.x + b.w, b.t).toBeLessThanOrEqual(24);
      expect(b.w * b.h, b.t).toBeGreaterThan(0);
    }
    for (const [i, a] of boxes.entries())
      for (const b of boxes.slice(i + 1)) {
        const apart = a.x + a.w <= b.x || b.x + b.w <= a.x || a.y + a.h <= b.y || b.y + b.h <= a.y;
        expect(apart, `${a.t} / ${b.t}`).toBe(true);
      }
  });

  it('has the serving-rights row: pairs serving alone, serving members per pair, refusals by reason', () => {
    const row = rowPanels(d, servingRow);
    const queries = row.flatMap((p) => p.targets!.map((t) => ({ panel: p, expr: t.expr })));
    const using = (metric: string) => queries.filter((q) => new RegExp(`\\b${metric}\\{`).test(q.expr));
    for (const metric of [
      'lpo_pair_serving_alone',
      'license_server_serving',
      'license_server_serving_alone',
      'license_server_quorum_refusals_total',
    ])
      expect(using(metric), metric).not.toEqual([]);
    expect(using('lpo_pair_serving_alone').map((q) => q.panel.type)).toContain('stat');
    // Split brain is more than one serving member in a pair: the panel must count per pair.
    expect(using('license_server_serving').map((q) => q.expr)).toContainEqual(
      expect.stringMatching(/^sum by \(namespace, pair\) /),
    );
    expect(using('license_server_quorum_refusals_total')[0]!.expr).toMatch(
      /by \([^)]*\breason\b[^)]*\) \(rate\(/,
    );
  });

  it("shows the pairs that are not Ready by reason, and the days until each pair's licence expires", () => {
    const queries = panels(d).flatMap((p) => p.targets!.map((t) => ({ panel: p, expr: t.expr })));
    const using = (metric: string) => queries.filter((q) => new RegExp(`\\b${metric}\\{`).test(q.expr));
    const notReady = using('lpo_pair_ready').filter((q) => /\) == 0\)/.test(q.expr));
    expect(notReady.map((q) => [q.panel.id, q.panel.type])).toEqual([[38, 'stat']]);
    expect(notReady[0]!.expr).toMatch(/^count by \(reason\) /);
    // A query that returns nothing while every pair is Ready would leave the panel empty.
    expect(notReady[0]!.expr).toMatch(/ or on \(\) /);
    expect(using('lpo_pair_ready').map((q) => q.panel.type)).toContain('table');
    const expiry = using('lpo_pair_licence_expiry_timestamp_seconds');
    expect(expiry.map((q) => q.panel.id)).toEqual([40]);
    expect(expiry[0]!.expr).toMatch(/ - time\(\)\) \/ 86400$/);
  });
});
