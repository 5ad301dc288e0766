import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterReachable, haveCommand, kubectl } from './lib.ts';
import {
  applySamplePair,
  emptyDashboardQueries,
  failOver,
  LocalPrometheus,
  makeLicenceTraffic,
  operatorWatchesAllNamespaces,
  until,
  waitLive,
  waitStandbyReady,
} from './live-pair.ts';

// Every dashboard panel's query, evaluated by a real Prometheus scraping a running operator and a
// running pair, returns series. Runs when the local cluster has a node and a ready, cluster-wide
// operator (for example after the chart is installed with the locally built images, as
// test/e2e/chart.test.ts does); it creates its own pair in its own namespace, makes licence traffic
// and a real failover, and removes the namespace afterwards. LPO_REQUIRE_LIVE=1 turns the skip into
// a failure.

const ready = clusterReachable() && haveCommand('prometheus') && operatorWatchesAllNamespaces();
if (!ready && process.env.LPO_REQUIRE_LIVE === '1')
  throw new Error('no cluster with a running cluster-wide operator');

describe.skipIf(!ready)('dashboard queries against a running pair', () => {
  const ns = `lpo-dash-${randomBytes(3).toString('hex')}`;
  const pair = 'eda-tools';
  const prom = new LocalPrometheus();

  beforeAll(async () => {
    await prom.start();
    kubectl(['create', 'namespace', ns]);
    applySamplePair(ns, pair);
    await waitLive(ns, pair);
    await waitStandbyReady(ns, pair);
    await makeLicenceTraffic(ns, pair);
    await failOver(ns, pair);
    await waitStandbyReady(ns, pair);
    await makeLicenceTraffic(ns, pair);
  }, 600_000);

  afterAll(async () => {
    await prom.stop();
    kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  it('scrapes the operator and both members', async () => {
    await until(
      'targets up',
      async () => {
        const up = await prom.query(
          `up{job="license-server",namespace="${ns}"} == 1 or up{job="license-pair-operator"} == 1`,
        );
        return (
          up.filter((r) => r.metric.job === 'license-server').length === 2 &&
          up.some((r) => r.metric.job === 'license-pair-operator')
        );
      },
      60_000,
    );
  });

  it('every dashboard query returns series', async () => {
    // Rates need a few scrapes after the traffic and the failover.
    let empty: string[] = [];
    await until(
      'every dashboard query to return series',
      async () => {
        empty = await emptyDashboardQueries(prom, ns, pair);
        return empty.length === 0;
      },
      90_000,
    ).catch(() => undefined);
    expect(empty).toEqual([]);
  });

  it('no alert is firing for the pair', async () => {
    const firing = await prom.query(`ALERTS{alertstate="firing",namespace="${ns}"}`);
    expect(firing.map((r) => r.metric.alertname)).toEqual([]);
  });
});
