import { readFileSync } from 'node:fs';
import path from 'node:path';
import { chartDir } from './lib.ts';

/** The Grafana dashboard's panels and queries, with Grafana's variables substituted. */

export type DataSourceRef = { type?: string; uid?: string };
export type Target = { refId: string; expr: string; legendFormat?: string; datasource?: DataSourceRef };
export type Panel = {
  id: number;
  type: string;
  title: string;
  datasource?: DataSourceRef;
  gridPos?: { x: number; y: number; w: number; h: number };
  targets?: Target[];
  panels?: Panel[];
};
export type Dashboard = {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: unknown }[] };
};

export const dashboardPath = path.join(chartDir, 'files', 'dashboard.json');

export function loadDashboard(): Dashboard {
  return JSON.parse(readFileSync(dashboardPath, 'utf8')) as Dashboard;
}

export function panels(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => (p.type === 'row' ? (p.panels ?? []) : [p]));
}

/**
 * The panels of the row titled `title`: a collapsed row holds them in `panels`, an open one is
 * followed by them at the top level up to the next row.
 */
export function rowPanels(d: Dashboard, title: string): Panel[] {
  const at = d.panels.findIndex((p) => p.type === 'row' && p.title === title);
  if (at < 0) return [];
  const next = d.panels.findIndex((p, i) => i > at && p.type === 'row');
  return [...(d.panels[at]!.panels ?? []), ...d.panels.slice(at + 1, next < 0 ? undefined : next)];
}

/** What Grafana would send: variables replaced (All = the allValue regex), intervals made concrete. */
export function concrete(
  expr: string,
  vars: { namespace?: string; pair?: string; range?: string } = {},
): string {
  return expr
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$__interval', '30s')
    .replaceAll('$__range', vars.range ?? '1h')
    .replaceAll('$namespace', vars.namespace ?? '.*')
    .replaceAll('$pair', vars.pair ?? '.*');
}

/** Metric names an expression refers to (identifiers directly followed by `{` or used bare). */
export function metricNames(expr: string): string[] {
  const names = new Set<string>();
  for (const m of expr.matchAll(/\b([a-z_][a-z0-9_]*)\s*\{/g)) names.add(m[1]!);
  return [...names].filter(
    (n) => !['by', 'without', 'on', 'ignoring', 'group_left', 'group_right'].includes(n),
  );
}
