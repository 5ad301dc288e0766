// The chart's Grafana dashboard (charts/license-pair-operator/files/dashboard.json), built with
// Grafana's Foundation SDK so that panels, queries and variables are typed against Grafana's own
// dashboard model instead of being hand-written JSON that nothing checks.
//   npm run dashboard            # write files/dashboard.json
//   npm run dashboard -- --check # exit 1 when the file is not what this builds
// test/chart/dashboard/generated.test.ts fails on drift.
import * as bargauge from '@grafana/grafana-foundation-sdk/bargauge';
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as statetimeline from '@grafana/grafana-foundation-sdk/statetimeline';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import * as prettier from 'prettier';
import { dashboardPath } from '../dashboard-lib.ts';

// The uid is what links and the Grafana sidecar know the dashboard by: it must never change.
export const uid = 'license-pair-operator';
export const servingRow = 'Serving rights (split-brain protection)';

const datasource: common.DataSourceRef = { type: 'prometheus', uid: '${datasource}' };
/** Every pair-scoped series (operator `lpo_pair_*`/`lpo_member_*` and the members' own) carries both. */
const pairs = 'namespace=~"$namespace", pair=~"$pair"';
/** Operator-wide series: the operator's job (a regex, as installs may prefix the job name). */
const operator = 'job=~".*license-pair-operator.*"';
const controller = `${operator}, controller="licenseserverpair"`;
const queue = `${operator}, name="licenseserverpair"`;

type Query = { expr: string; legend?: string; table?: boolean };

function targets(queries: Query[]): prometheus.DataqueryBuilder[] {
  return queries.map((q, i) => {
    const t = new prometheus.DataqueryBuilder()
      .refId(String.fromCharCode(65 + i))
      .datasource(datasource)
      .expr(q.expr);
    if (q.legend) t.legendFormat(q.legend);
    if (q.table) t.instant().format(prometheus.PromQueryFormat.Table);
    return t;
  });
}

/** What every panel builder of the SDK has in common (they are separate classes per panel type). */
interface AnyPanel {
  id(id: number): this;
  title(title: string): this;
  description(description: string): this;
  datasource(datasource: common.DataSourceRef): this;
  span(w: number): this;
  height(h: number): this;
  targets(targets: prometheus.DataqueryBuilder[]): this;
}

type Spec = { id: number; title: string; w: number; description?: string; queries: Query[] };

// x and y are left to the SDK's grid layout (left to right, wrapping at 24 columns, rows below the
// tallest panel), so adding or resizing a panel does not mean recomputing every position below it.
function panel<P extends AnyPanel>(p: P, s: Spec): P {
  p.id(s.id).title(s.title).datasource(datasource).span(s.w).height(8).targets(targets(s.queries));
  if (s.description) p.description(s.description);
  return p;
}

// The SDK's default legend is hidden; Grafana's (what the hand-written dashboard relied on) is shown.
const legend = () =>
  new common.VizLegendOptionsBuilder()
    .showLegend(true)
    .displayMode(common.LegendDisplayMode.List)
    .placement(common.LegendPlacement.Bottom);

// The SDK leaves the reducer empty; spell out Grafana's own default (last non-null value).
const lastValue = () => new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']);

const thresholds = (steps: dashboard.Threshold[]) =>
  new dashboard.ThresholdsConfigBuilder().mode(dashboard.ThresholdsMode.Absolute).steps(steps);

const graph = (s: Spec) => panel(new timeseries.PanelBuilder(), s).legend(legend());
const timeline = (s: Spec) => panel(new statetimeline.PanelBuilder(), s).legend(legend());
const single = (s: Spec) => panel(new stat.PanelBuilder(), s).reduceOptions(lastValue());

function pairsRow(b: dashboard.DashboardBuilder): void {
  b.withRow(new dashboard.RowBuilder('Pairs').id(1))
    .withPanel(
      panel(new table.PanelBuilder(), {
        id: 2,
        title: 'Live member per pair',
        w: 12,
        description:
          "Which member the pair's Service points at, and the pair's phase (status.liveMember, status.phase).",
        queries: [
          {
            expr: `max by (namespace, pair, live_member, phase) (lpo_pair_info{${pairs}})`,
            table: true,
          },
        ],
      }).withTransformation({ id: 'organize', options: { excludeByName: { Time: true, Value: true } } }),
    )
    .withPanel(
      single({
        id: 3,
        title: 'Pairs without a live member',
        w: 4,
        description: 'Pairs whose Service points at no member (alert LicensePairUnavailable).',
        queries: [{ expr: `count(lpo_pair_live{${pairs}} == 0) or vector(0)` }],
      }).thresholds(
        thresholds([
          { color: 'green', value: null },
          { color: 'red', value: 1 },
        ]),
      ),
    )
    .withPanel(
      single({
        id: 4,
        title: 'Standby ready',
        w: 4,
        description: '1 when the standby is healthy and in sync: a failover could happen now.',
        queries: [
          {
            expr: `min by (namespace, pair) (lpo_pair_standby_ready{${pairs}})`,
            legend: '{{namespace}}/{{pair}}',
          },
        ],
      }),
    )
    .withPanel(
      single({
        id: 5,
        title: 'On preferred member',
        w: 4,
        description: '0 while a pair serves from its non-preferred member (after a failover).',
        queries: [
          {
            expr: `min by (namespace, pair) (lpo_pair_on_preferred_member{${pairs}})`,
            legend: '{{namespace}}/{{pair}}',
          },
        ],
      }),
    )
    // The pair's Ready condition (lpo_pair_ready carries its reason): which pairs cannot serve, and why.
    .withPanel(
      single({
        id: 38,
        title: 'Pairs not Ready by reason',
        w: 8,
        description:
          "Pairs whose Ready condition is False, counted by the condition's reason (alerts LicensePairUnavailable and LicensePairNotServing; each reason has a section in docs/runbooks/LicensePairNotServing.md).",
        queries: [
          {
            // Per pair first (a pair scraped twice is one pair); `or on ()` adds the zero only when no
            // pair is not Ready, so that the panel says so instead of showing no data.
            expr: `count by (reason) (max by (namespace, pair, reason) (lpo_pair_ready{${pairs}}) == 0) or on () label_replace(vector(0), "reason", "all Ready", "", "")`,
            legend: '{{reason}}',
          },
        ],
      }).thresholds(
        thresholds([
          { color: 'green', value: null },
          { color: 'red', value: 1 },
        ]),
      ),
    )
    .withPanel(
      panel(new table.PanelBuilder(), {
        id: 39,
        title: 'Ready condition per pair',
        w: 16,
        description:
          "Each pair's Ready condition and its reason (LiveMemberServing when Ready), pairs that are not Ready first.",
        queries: [
          {
            expr: `max by (namespace, pair, reason) (lpo_pair_ready{${pairs}})`,
            table: true,
          },
        ],
      })
        .withTransformation({
          id: 'organize',
          options: { excludeByName: { Time: true }, renameByName: { Value: 'Ready' } },
        })
        // Only the Ready column is coloured: the namespace, pair and reason stay plain text.
        .overrideByName('Ready', [
          {
            id: 'mappings',
            value: [
              {
                type: dashboard.MappingType.ValueToText,
                options: {
                  '0': { text: 'Not Ready', color: 'red', index: 0 },
                  '1': { text: 'Ready', color: 'green', index: 1 },
                },
              },
            ],
          },
          { id: 'custom.cellOptions', value: { type: common.TableCellDisplayMode.ColorText } },
        ])
        .sortBy([new common.TableSortByFieldStateBuilder().displayName('Ready').desc(false)]),
    )
    .withPanel(
      timeline({
        id: 6,
        title: 'Live member over time',
        w: 16,
        description: '1 while the member is live.',
        queries: [
          {
            expr: `max by (namespace, pair, member) (lpo_pair_live_member{${pairs}})`,
            legend: '{{namespace}}/{{pair}} {{member}}',
          },
        ],
      }),
    )
    .withPanel(
      single({
        id: 7,
        title: 'Time on the current live member',
        w: 8,
        queries: [
          {
            expr: `time() - max by (namespace, pair) (lpo_pair_live_since_timestamp_seconds{${pairs}})`,
            legend: '{{namespace}}/{{pair}}',
          },
        ],
      }).unit('s'),
    );
}

function failoversRow(b: dashboard.DashboardBuilder): void {
  const detection = (q: string) =>
    `histogram_quantile(${q}, sum by (le, action) (rate(lpo_failover_detection_to_switch_seconds_bucket{${operator}}[$__rate_interval])))`;
  b.withRow(new dashboard.RowBuilder('Failovers').id(8))
    .withPanel(
      graph({
        id: 9,
        title: 'Failovers and switchovers',
        w: 12,
        description: 'Moves of the Service between members, by reason.',
        queries: [
          {
            expr: `sum by (namespace, pair, reason) (increase(lpo_failovers_total{${pairs}}[$__rate_interval]))`,
            legend: '{{namespace}}/{{pair}} {{reason}}',
          },
        ],
      }).drawStyle(common.GraphDrawStyle.Bars),
    )
    .withPanel(
      graph({
        id: 10,
        title: 'Detection to switch',
        w: 12,
        description:
          'From the first sign of failure to the Service pointing at the other member (all pairs).',
        queries: [
          { expr: detection('0.5'), legend: 'p50 {{action}}' },
          { expr: detection('0.95'), legend: 'p95 {{action}}' },
          {
            expr:
              `sum by (action) (increase(lpo_failover_detection_to_switch_seconds_sum{${operator}}[$__range]))` +
              ` / sum by (action) (increase(lpo_failover_detection_to_switch_seconds_count{${operator}}[$__range]))`,
            legend: 'mean over the range {{action}}',
          },
        ],
      }).unit('s'),
    );
}

// The product's guarantee against split brain: a member acknowledges lease changes only while it
// holds a serving right, and serves without its standby only under the operator's time-bounded
// solo grant. These panels show the right being held by exactly one member per pair.
function servingRightsRow(b: dashboard.DashboardBuilder): void {
  b.withRow(new dashboard.RowBuilder(servingRow).id(33))
    .withPanel(
      single({
        id: 34,
        title: 'Pairs serving alone',
        w: 4,
        description:
          'Pairs whose live member serves alone under the solo grant: the standby is not in sync and cannot be promoted until it resyncs, so losing the live member now means an outage.',
        queries: [{ expr: `sum(lpo_pair_serving_alone{${pairs}})` }],
      }).thresholds(
        thresholds([
          { color: 'green', value: null },
          { color: 'orange', value: 1 },
        ]),
      ),
    )
    .withPanel(
      // Collapsed per member first (max by member), so the count is of members, not of series: a
      // member scraped by two jobs or under two instance labels is still one member.
      graph({
        id: 35,
        title: 'Serving members per pair',
        w: 10,
        description:
          'Members of the pair that may acknowledge lease changes. 1 is normal; 0 means no member serves; more than 1 is the split brain the serving rights exist to prevent.',
        queries: [
          {
            expr: `sum by (namespace, pair) (max by (namespace, pair, member) (license_server_serving{${pairs}}))`,
            legend: '{{namespace}}/{{pair}}',
          },
        ],
      })
        .min(0)
        .axisSoftMax(2)
        .decimals(0)
        .thresholds(
          thresholds([
            { color: 'red', value: null },
            { color: 'green', value: 1 },
            { color: 'red', value: 2 },
          ]),
        )
        .thresholdsStyle(
          new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.DashedAndArea),
        ),
    )
    .withPanel(
      graph({
        id: 36,
        title: 'Quorum refusals by reason',
        w: 10,
        description:
          'Requests a member refused because it holds no serving right. A few around a failover are expected; a steady rate means clients reach a member that may not serve.',
        queries: [
          {
            expr: `sum by (namespace, pair, member, reason) (rate(license_server_quorum_refusals_total{${pairs}}[$__rate_interval]))`,
            legend: '{{namespace}}/{{pair}} {{member}} {{reason}}',
          },
        ],
      }).unit('reqps'),
    )
    .withPanel(
      timeline({
        id: 37,
        title: 'Serving right per member',
        w: 24,
        description:
          "1 while the member may acknowledge lease changes (serving), and while it does so under the operator's solo grant because its standby is not in sync (alone).",
        queries: [
          {
            expr: `max by (namespace, pair, member) (license_server_serving{${pairs}})`,
            legend: '{{namespace}}/{{pair}} {{member}} serving',
          },
          {
            expr: `max by (namespace, pair, member) (license_server_serving_alone{${pairs}})`,
            legend: '{{namespace}}/{{pair}} {{member}} alone',
          },
        ],
      }),
    );
}

function membersRow(b: dashboard.DashboardBuilder): void {
  const probe = (q: string) =>
    `histogram_quantile(${q}, sum by (le) (rate(lpo_probe_duration_seconds_bucket{${operator}}[$__rate_interval])))`;
  b.withRow(new dashboard.RowBuilder('Members').id(11))
    .withPanel(
      timeline({
        id: 12,
        title: 'Member health',
        w: 12,
        description: "1 while the member passes the operator's health check.",
        queries: [
          {
            expr: `max by (namespace, pair, member) (lpo_member_healthy{${pairs}})`,
            legend: '{{namespace}}/{{pair}} {{member}}',
          },
        ],
      }),
    )
    .withPanel(
      graph({
        id: 13,
        title: 'Last probe latency',
        w: 6,
        queries: [
          {
            expr: `max by (namespace, pair, member) (lpo_member_probe_duration_seconds{${pairs}})`,
            legend: '{{namespace}}/{{pair}} {{member}}',
          },
        ],
      }).unit('s'),
    )
    .withPanel(
      graph({
        id: 14,
        title: 'Probe latency (all members)',
        w: 6,
        queries: [
          { expr: probe('0.5'), legend: 'p50' },
          { expr: probe('0.99'), legend: 'p99' },
        ],
      }).unit('s'),
    )
    .withPanel(
      graph({
        id: 15,
        title: 'Replication lag (operator view)',
        w: 8,
        description:
          'The lag each member reports to the operator (alert LicenseReplicationLagHigh above 30 s).',
        queries: [
          {
            expr: `max by (namespace, pair, member) (lpo_member_replication_lag_seconds{${pairs}})`,
            legend: '{{namespace}}/{{pair}} {{member}}',
          },
        ],
      }).unit('s'),
    )
    .withPanel(
      graph({
        id: 16,
        title: 'Replication lag (servers)',
        w: 8,
        description: "Seconds and log entries the standby does not have, from the servers' own metrics.",
        queries: [
          {
            expr: `max by (namespace, pair, member) (license_server_replication_lag_seconds{${pairs}})`,
            legend: '{{namespace}}/{{pair}} {{member}} seconds',
          },
          {
            expr: `max by (namespace, pair, member) (license_server_replication_lag_entries{${pairs}})`,
            legend: '{{namespace}}/{{pair}} {{member}} entries',
          },
        ],
      }),
    )
    .withPanel(
      timeline({
        id: 17,
        title: 'Server role',
        w: 8,
        description: "1 while the member's server is active (0: standby).",
        queries: [
          {
            expr: `max by (namespace, pair, member) (license_server_role{${pairs}, role="active"})`,
            legend: '{{namespace}}/{{pair}} {{member}} active',
          },
        ],
      }),
    );
}

function licencesRow(b: dashboard.DashboardBuilder): void {
  const seats = (m: string, extra = '') => `max by (namespace, pair, feature) (${m}{${pairs}}${extra})`;
  b.withRow(new dashboard.RowBuilder('Licences').id(18))
    .withPanel(
      graph({
        id: 19,
        title: 'Seats in use vs licensed',
        w: 12,
        description: "Per feature (the active member's ledger; the standby mirrors it).",
        queries: [
          { expr: seats('license_server_seats_in_use'), legend: '{{pair}} {{feature}} in use' },
          { expr: seats('license_server_seats_licensed'), legend: '{{pair}} {{feature}} licensed' },
        ],
      }),
    )
    .withPanel(
      panel(new bargauge.PanelBuilder(), {
        id: 20,
        title: 'Seat usage',
        w: 6,
        description: 'Alert LicenseSeatsNearlyExhausted above 90%.',
        queries: [
          {
            expr: `${seats('license_server_seats_in_use')} / ${seats('license_server_seats_licensed', ' > 0')}`,
            legend: '{{pair}} {{feature}}',
          },
        ],
      })
        .reduceOptions(lastValue())
        .unit('percentunit')
        .min(0)
        .max(1)
        .thresholds(
          thresholds([
            { color: 'green', value: null },
            { color: 'orange', value: 0.75 },
            { color: 'red', value: 0.9 },
          ]),
        ),
    )
    .withPanel(
      single({
        id: 21,
        title: 'Active leases',
        w: 6,
        queries: [
          {
            expr: `max by (namespace, pair) (license_server_active_leases{${pairs}})`,
            legend: '{{namespace}}/{{pair}}',
          },
        ],
      }),
    )
    .withPanel(
      graph({
        id: 22,
        title: 'Checkouts by result',
        w: 8,
        queries: [
          {
            expr: `sum by (pair, feature, result) (rate(license_server_checkouts_total{${pairs}}[$__rate_interval]))`,
            legend: '{{pair}} {{feature}} {{result}}',
          },
        ],
      }).unit('reqps'),
    )
    .withPanel(
      graph({
        id: 23,
        title: 'Denials by reason',
        w: 8,
        description: 'NO_SEATS, USER_LIMIT, HOST_LIMIT, EXCLUDED, LICENSE_EXPIRED, UNKNOWN_FEATURE ...',
        queries: [
          {
            expr: `sum by (pair, feature, reason) (increase(license_server_denials_total{${pairs}}[$__rate_interval]))`,
            legend: '{{pair}} {{feature}} {{reason}}',
          },
        ],
      }),
    )
    .withPanel(
      single({
        id: 24,
        title: 'Licence valid',
        w: 8,
        description:
          '0 when a member has no valid licence in force (refused file: see license_server_license_reloads_total).',
        queries: [
          {
            expr: `min by (namespace, pair, member) (license_server_license_valid{${pairs}})`,
            legend: '{{pair}} {{member}}',
          },
        ],
      }),
    )
    .withPanel(
      panel(new bargauge.PanelBuilder(), {
        id: 40,
        title: 'Days until licence expiry',
        w: 24,
        description:
          "Days until the first feature of the licence in force expires, per pair. Alert LicensePairLicenceExpiringSoon within the pair's spec.server.license.expiryWarningDays (14 by default, which the colours follow).",
        queries: [
          {
            expr: `(min by (namespace, pair) (lpo_pair_licence_expiry_timestamp_seconds{${pairs}}) - time()) / 86400`,
            legend: '{{namespace}}/{{pair}}',
          },
        ],
      })
        .reduceOptions(lastValue())
        .orientation(common.VizOrientation.Horizontal)
        .unit('suffix: days')
        .decimals(1)
        .min(0)
        .thresholds(
          thresholds([
            { color: 'red', value: null },
            { color: 'orange', value: 7 },
            { color: 'green', value: 14 },
          ]),
        ),
    );
}

function operatorRow(b: dashboard.DashboardBuilder): void {
  const quantile = (q: string, metric: string, sel: string) =>
    `histogram_quantile(${q}, sum by (le) (rate(${metric}{${sel}}[$__rate_interval])))`;
  b.withRow(new dashboard.RowBuilder('Operator').id(25))
    .withPanel(
      graph({
        id: 26,
        title: 'Reconciles by result',
        w: 8,
        queries: [
          {
            expr: `sum by (result) (rate(controller_runtime_reconcile_total{${controller}}[$__rate_interval]))`,
            legend: '{{result}}',
          },
        ],
      }).unit('ops'),
    )
    .withPanel(
      graph({
        id: 27,
        title: 'Reconcile errors',
        w: 8,
        description: 'Alert LicensePairOperatorReconcileErrors when more than 10% fail.',
        queries: [
          {
            expr: `sum by (namespace) (rate(controller_runtime_reconcile_errors_total{${controller}}[$__rate_interval]))`,
            legend: 'errors {{namespace}}',
          },
        ],
      }).unit('ops'),
    )
    .withPanel(
      graph({
        id: 28,
        title: 'Reconcile duration',
        w: 8,
        queries: [
          {
            expr: quantile('0.5', 'controller_runtime_reconcile_time_seconds_bucket', controller),
            legend: 'p50',
          },
          {
            expr: quantile('0.99', 'controller_runtime_reconcile_time_seconds_bucket', controller),
            legend: 'p99',
          },
        ],
      }).unit('s'),
    )
    .withPanel(
      graph({
        id: 29,
        title: 'Work queue depth',
        w: 6,
        queries: [{ expr: `sum by (pod) (workqueue_depth{${queue}})`, legend: '{{pod}}' }],
      }),
    )
    .withPanel(
      graph({
        id: 30,
        title: 'Queue wait and work time',
        w: 6,
        queries: [
          { expr: quantile('0.95', 'workqueue_queue_duration_seconds_bucket', queue), legend: 'wait p95' },
          { expr: quantile('0.95', 'workqueue_work_duration_seconds_bucket', queue), legend: 'work p95' },
        ],
      }).unit('s'),
    )
    .withPanel(
      graph({
        id: 31,
        title: 'Workers',
        w: 6,
        queries: [
          {
            expr: `sum by (pod) (controller_runtime_active_workers{${controller}})`,
            legend: 'active {{pod}}',
          },
          { expr: `max(controller_runtime_max_concurrent_reconciles{${controller}})`, legend: 'max' },
        ],
      }),
    )
    .withPanel(
      timeline({
        id: 32,
        title: 'Leader',
        w: 6,
        description: '1 for the replica that holds the Lease (alert LicensePairOperatorNoLeader when none).',
        queries: [{ expr: `max by (pod) (leader_election_master_status{${operator}})`, legend: '{{pod}}' }],
      }),
    );
}

function variable(name: string, label: string, query: string): dashboard.QueryVariableBuilder {
  return new dashboard.QueryVariableBuilder(name)
    .label(label)
    .datasource(datasource)
    .query({ query, refId: name })
    .definition(query)
    .multi(true)
    .includeAll(true)
    .allValue('.*')
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .sort(dashboard.VariableSort.AlphabeticalAsc);
}

export function buildDashboard(): dashboard.Dashboard {
  const b = new dashboard.DashboardBuilder('License pair operator')
    .uid(uid)
    .description(
      'Licence-server pairs: live member, failovers, member health, replication, seats; and the operator itself.',
    )
    .tags(['license-pair-operator', 'licensing'])
    // Empty: each viewer's own time zone preference, not the SDK's forced "browser".
    .timezone('')
    .editable()
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .time({ from: 'now-6h', to: 'now' })
    .refresh('30s')
    .fiscalYearStartMonth(0)
    .liveNow(false)
    .version(1)
    .links([])
    .annotation(
      new dashboard.AnnotationQueryBuilder()
        .builtIn(1)
        .datasource({ type: 'grafana', uid: '-- Grafana --' })
        .enable(true)
        .hide(true)
        .iconColor('rgba(0, 211, 255, 1)')
        .name('Annotations & Alerts')
        .type('dashboard'),
    )
    .withVariable(
      new dashboard.DatasourceVariableBuilder('datasource').label('Data source').type('prometheus'),
    )
    .withVariable(variable('namespace', 'Namespace', 'label_values(lpo_pair_info, namespace)'))
    .withVariable(variable('pair', 'Pair', 'label_values(lpo_pair_info{namespace=~"$namespace"}, pair)'));
  for (const row of [pairsRow, failoversRow, servingRightsRow, membersRow, licencesRow, operatorRow]) row(b);
  return b.build();
}

/** The file's text: the dashboard as JSON, formatted as `prettier --write` would leave it. */
export async function renderDashboard(): Promise<string> {
  const options = (await prettier.resolveConfig(dashboardPath)) ?? {};
  // Indented first: prettier keeps an object expanded when its first key is on a line of its own,
  // so every key keeps a line and diffs of the generated file stay reviewable.
  return prettier.format(JSON.stringify(buildDashboard(), null, 2), { ...options, filepath: dashboardPath });
}
