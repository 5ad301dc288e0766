#!/usr/bin/env node
// The operator: `npm run operator` (current kubeconfig) or the image's entry point (in-cluster).
import * as k8s from '@kubernetes/client-node';
import express from 'express';
import os from 'node:os';
import { pino } from 'pino';
import { FIELD_MANAGER } from '../api/pair.ts';
import { LeaderElector } from '../kube/leader-election.ts';
import { shareConnections } from '../kube/connections.ts';
import { countApiRequests } from '../kube/request-metrics.ts';
import { loadConfig } from './config.ts';
import { Controller } from './controller.ts';
import { createMetrics } from './metrics.ts';

const config = loadConfig(process.env, os.hostname());
const log = pino({
  level: config.logLevel,
  base: { component: 'license-pair-operator', identity: config.identity },
});
const kc = new k8s.KubeConfig();
// KUBECONFIG, ~/.kube/config, or the in-cluster ServiceAccount: like kubectl.
kc.loadFromDefault();
shareConnections(kc);
const metrics = createMetrics();
const apiServer = kc.getCurrentCluster()?.server;
if (apiServer) countApiRequests(apiServer, metrics.apiRequests);

let leading = !config.leaderElect;
let elector: LeaderElector | undefined;
const isLeader = () => (elector ? elector.isLeader : leading);

const controller = new Controller({
  kc,
  watchNamespaces: config.watchNamespaces,
  fieldManager: FIELD_MANAGER,
  isLeader,
  metrics,
  log,
  workers: config.maxConcurrentReconciles,
  probeConcurrency: config.probeConcurrency,
  standbySilenceWatch: config.standbySilenceWatch,
  resyncMs: config.resyncMs,
  tls: { operatorNamespace: config.operatorNamespace, ...config.tls },
  ...(config.leaderElect ? { leaderHandoverMs: config.leaseDurationMs + config.retryPeriodMs } : {}),
  ...(Object.keys(config.operatorPodLabels).length > 0
    ? { operatorPeer: { namespace: config.operatorNamespace, podLabels: config.operatorPodLabels } }
    : {}),
});

const metricsApp = express();
metricsApp.disable('x-powered-by');
metricsApp.get('/metrics', async (_req, res) => {
  controller.queue.observeInFlight();
  res.set('content-type', metrics.registry.contentType).send(await metrics.registry.metrics());
});
const healthApp = express();
healthApp.disable('x-powered-by');
healthApp.get('/healthz', (_req, res) => {
  res.json({ status: 'ok' });
});
// Ready once the caches are synced: a non-leader is ready too (it is a warm standby).
healthApp.get('/readyz', (_req, res) => {
  if (controller.synced) res.json({ status: 'ok', leader: isLeader() });
  else res.status(503).json({ status: 'informers not synced' });
});
const servers = [
  metricsApp.listen(config.metricsAddr.port, config.metricsAddr.host),
  healthApp.listen(config.healthAddr.port, config.healthAddr.host),
];

controller.startInformers();
log.info(
  {
    watchNamespaces: config.watchNamespaces.length ? config.watchNamespaces : 'all',
    leaderElection: config.leaderElect,
  },
  'operator starting',
);

if (config.leaderElect) {
  elector = new LeaderElector({
    kc,
    namespace: config.operatorNamespace,
    name: config.leaseName,
    identity: config.identity,
    leaseDurationMs: config.leaseDurationMs,
    renewDeadlineMs: config.renewDeadlineMs,
    retryPeriodMs: config.retryPeriodMs,
    log,
    registry: metrics.registry,
    onStartedLeading: () => void controller.startWorkers(),
    // Like client-go: a replica that lost the lease exits at once, so it cannot write after a
    // successor took over; Kubernetes restarts it as a candidate.
    onStoppedLeading: () => {
      log.error('leadership lost; exiting');
      process.exit(1);
    },
  });
  void elector.run();
} else {
  leading = true;
  void controller.startWorkers();
}

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'shutting down');
  controller.stop();
  await elector?.stop();
  for (const s of servers) s.close();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
