#!/usr/bin/env node
// npm run demo [-- --nodes N]: from nothing to a failover you can watch. Builds or reuses the
// local Kubernetes and the images, starts the cluster with a node (or N real nodes), installs the
// chart, applies the sample pair, runs a licence client through the pair's Service, kills the
// primary (with several nodes: the primary's whole node loses power) and shows the live member
// switch, the client carrying on and the primary coming back.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { LicenseClient } from '../../src/client/client.ts';
import { binLinkDir, kubeconfigPath, repoRoot } from './config.ts';
import { powerOff, powerOn } from './node-faults.ts';
import { nodesFlag, offFirstNode, operatorOnFirstNode } from './node-spec.ts';
import { installOperatorChart } from './operator-chart.ts';

const ns = 'licensing';
const pair = 'eda-tools';
const release = 'lpo';
const operatorNs = 'lpo-system';
const t0 = Date.now();
const nodes = nodesFlag(process.argv.slice(2)) ?? 1;

const stamp = () => `+${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s`;
const say = (msg: string) => process.stdout.write(`${stamp()}  ${msg}\n`);
const step = (msg: string) => process.stdout.write(`\n${stamp()}  ==> ${msg}\n`);

function run(
  cmd: string,
  args: string[],
  opts: { quiet?: boolean; allowFail?: boolean; input?: string } = {},
): string {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    input: opts.input,
    stdio: opts.quiet ? 'pipe' : ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, KUBECONFIG: kubeconfigPath },
  });
  if (r.status !== 0 && !opts.allowFail) {
    throw new Error(
      `${path.basename(cmd)} ${args.join(' ')} failed${r.stderr ? `: ${r.stderr.trim()}` : ''}`,
    );
  }
  return r.stdout ?? '';
}
const kubectl = (args: string[], quiet = true) => run(path.join(binLinkDir, 'kubectl'), args, { quiet });
const cluster = (args: string[]) =>
  run(process.execPath, [path.join(repoRoot, 'test/cluster/cluster.ts'), ...args]);

function lsp(): { live: string; phase: string; primary: string; redundant: string; failovers: string } {
  const out = kubectl([
    'get',
    'lsp',
    pair,
    '-n',
    ns,
    '-o',
    'jsonpath={.status.liveMember}|{.status.phase}|{.status.members.primary.health}|{.status.members.redundant.health}|{.status.failoverCount}',
  ]);
  const [live = '', phase = '', primary = '', redundant = '', failovers = '0'] = out.split('|');
  return { live, phase, primary, redundant, failovers };
}

/** The sample pair; with several nodes its members may not run on lpo-node-1 (the operator's). */
function samplePair(multi: boolean): string {
  const docs = YAML.parseAllDocuments(
    readFileSync(path.join(repoRoot, 'samples/licenseserverpair.yaml'), 'utf8'),
  );
  if (multi) {
    const pairDoc = docs.find((d) => d.get('kind') === 'LicenseServerPair')!;
    pairDoc.setIn(['spec', 'placement', 'affinity'], offFirstNode);
  }
  return docs.map((d) => d.toString()).join('---\n');
}

async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      if (check()) return;
    } catch {
      // Not there yet.
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
}

async function main(): Promise<void> {
  const multi = nodes > 1;
  step(
    `local Kubernetes with ${multi ? `${nodes} real nodes` : 'a real node'} (built from source on first use: ~18 min cold, seconds after)`,
  );
  cluster(['up', ...(multi ? ['--nodes', String(nodes)] : ['--node'])]);
  if (multi) say(kubectl(['get', 'nodes', '-L', 'topology.kubernetes.io/zone']).trimEnd());
  step(`images: operator and licence server, imported into ${multi ? 'every node' : 'the node'}`);
  cluster(['images', 'license-pair-operator/operator:0.1.0', 'license-pair-operator/license-server:0.1.0']);

  step(`helm install ${release} (operator: 2 replicas, leader election${multi ? ', on lpo-node-1' : ''})`);
  // With several nodes the operator stays on the first one, so that losing a member's node is
  // the fault shown, not the operator's own.
  installOperatorChart(release, operatorNs, multi ? [operatorOnFirstNode] : []);
  say(kubectl(['get', 'deploy', '-n', operatorNs]).trimEnd());

  step(
    `the sample pair ${ns}/${pair}${multi ? ' (members kept off lpo-node-1, spread over the other nodes)' : ''}`,
  );
  run(path.join(binLinkDir, 'kubectl'), ['create', 'namespace', ns], { quiet: true, allowFail: true });
  run(path.join(binLinkDir, 'kubectl'), ['apply', '-f', '-'], { quiet: true, input: samplePair(multi) });
  await waitFor('the pair to be Running', () => lsp().phase === 'Running', 180_000);
  say(kubectl(['get', 'lsp', '-n', ns]).trimEnd());
  if (multi) say(kubectl(['get', 'pods', '-n', ns, '-o', 'wide']).trimEnd());

  step('a licence client checks out a seat through the pair’s Service (TLS) and renews it');
  const ip = kubectl(['get', 'svc', pair, '-n', ns, '-o', 'jsonpath={.spec.clusterIP}']).trim();
  // The operator publishes the pair's CA bundle for clients; this one dials the Service's cluster
  // IP from the host, so it names the Service host the certificate holds.
  const ca = kubectl(['get', 'configmap', `${pair}-ca`, '-n', ns, '-o', 'jsonpath={.data.ca\\.crt}']);
  say(
    `the pair's CA bundle: kubectl get configmap ${pair}-ca -n ${ns} (${ca.split('BEGIN CERTIFICATE').length - 1} CA)`,
  );
  const client = new LicenseClient({
    addresses: `https://${ip}:7070`,
    ca,
    servername: `${pair}.${ns}.svc`,
    clientId: 'demo-client',
    user: 'demo',
    host: 'demo-host',
    onEvent: (e) => {
      if (e.type === 'renewed') say(`client: renewed lease ${e.lease.id} (${e.lease.feature})`);
      else if (e.type === 'retry') say(`client: retrying (${e.error})`);
      else if (e.type === 'lease-lost') say(`client: LOST lease ${e.leaseId}: ${e.error}`);
      else if (e.type !== 'redirect') say(`client: ${e.type}`);
    },
  });
  const lease = await client.checkout('synth');
  say(`client: holds lease ${lease.id} for feature ${lease.feature}`);
  // Renew often so the demo shows the client working through the failover.
  const renewer = setInterval(() => {
    client.renew(lease.id).then(
      (l) => say(`client: renewed ${l.id}`),
      (err: Error) => say(`client: renew failed: ${err.message}`),
    );
  }, 1000);

  await new Promise((r) => setTimeout(r, 3000));
  const primaryNode = kubectl([
    'get',
    'pod',
    `${pair}-primary`,
    '-n',
    ns,
    '-o',
    'jsonpath={.spec.nodeName}',
  ]).trim();
  step(
    multi
      ? `the primary's node ${primaryNode} loses power (kubelet, containerd and every process of its pods killed, its link down)`
      : 'killing the primary (its pod is deleted)',
  );
  let last = '';
  const watcher = setInterval(() => {
    try {
      const s = lsp();
      const line = `lsp: live=${s.live || '(none)'} primary=${s.primary} redundant=${s.redundant} phase=${s.phase} failovers=${s.failovers}`;
      if (line !== last) say(line);
      last = line;
    } catch {
      // A transient API error: the next tick shows the state.
    }
  }, 250);
  if (multi) await powerOff(primaryNode);
  else kubectl(['delete', 'pod', `${pair}-primary`, '-n', ns, '--wait=false']);
  await waitFor('the redundant member to serve', () => lsp().live === 'redundant', 60_000);
  say('the Service now points at the redundant member; the client carries on');
  if (multi) {
    await new Promise((r) => setTimeout(r, 5000));
    step(`power back on ${primaryNode}: the kubelet restarts the primary, which resyncs as the standby`);
    await powerOn(primaryNode);
  }
  await waitFor(
    'the primary to come back and serve again (failback)',
    () => lsp().live === 'primary' && lsp().phase === 'Running',
    180_000,
  );
  await new Promise((r) => setTimeout(r, 3000));
  clearInterval(watcher);
  clearInterval(renewer);
  const held = await client.renew(lease.id);
  say(`client: still holds lease ${held.id} after failover and failback`);
  await client.release(lease.id);
  client.close();

  process.stdout.write(`
Done. Look around:
  export KUBECONFIG=${kubeconfigPath} PATH=${binLinkDir}:$PATH
  kubectl get lsp -n ${ns}                 # live member, health, phase, failovers
  kubectl describe lsp ${pair} -n ${ns}    # Events of the failover and failback
  npm run lspctl -- pair status ${pair} -n ${ns}
  kubectl -n ${operatorNs} port-forward deploy/${release}-license-pair-operator 8080 & curl -s localhost:8080/metrics | grep lpo_
Tear down:
  npm run cluster -- down
`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(
      `\ndemo failed: ${err instanceof Error ? err.message : String(err)}\n` +
        'The cluster is left running for a look: `npm run cluster -- status`, `kubectl get pods -A`.\n' +
        'Start again from scratch with `npm run cluster -- down && npm run demo`.\n',
    );
    process.exit(1);
  },
);
