// Benchmark of the operator on the local control plane (started here if not running):
//   detection-to-switch latency over repeated failovers, with the default policy and an
//   aggressive one (p50/p99/max), and the operator's API writes per minute at steady state.
// The members are real licence-server processes on loopback addresses; a stand-in kubelet writes
// pod status. A failover is injected by stopping the live member (SIGSTOP: it hangs, as a stuck
// server does), which only the operator's own health check can detect.
//
// Run: npm run bench -- controller [--rounds 5] [--steady-seconds 60]
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { kubeconfigPath, repoRoot } from '../cluster/config.ts';
import { controlPlaneStatus } from '../cluster/control-plane.ts';
import {
  StandInKubelet,
  createLoopbackPairObject,
  startLoopbackPair,
  type MemberName,
} from '../support/members.ts';
import { OperatorProcess } from '../support/operator.ts';
import { clientsFor, type Kube } from '../support/clients.ts';

const args = process.argv.slice(2);
const arg = (n: string, d: number) => {
  const i = args.indexOf(`--${n}`);
  return i >= 0 ? Number(args[i + 1]) : d;
};
const ROUNDS = arg('rounds', 5);
const STEADY_SECONDS = arg('steady-seconds', 60);
const GROUP = { group: 'lpo.dev', version: 'v1alpha1', plural: 'licenseserverpairs' };

function cluster(args: string[]): void {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'test/cluster/cluster.ts'), ...args], {
    stdio: 'inherit',
  });
  if (r.status !== 0) throw new Error(`cluster ${args.join(' ')} failed`);
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
};

async function until<T>(what: string, f: () => Promise<T | undefined | false>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await f().catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out: ${what}`);
}

interface Policy {
  name: string;
  healthCheck: {
    periodSeconds: number;
    timeoutSeconds: number;
    failureThreshold: number;
    successThreshold: number;
  };
}

async function runPolicy(k: Kube, policy: Policy): Promise<{ detection: number[]; switchTimes: number[] }> {
  const ns = `bench-${policy.name}-${Date.now().toString(36)}`;
  await k.core.createNamespace({ body: { metadata: { name: ns } } });
  const pair = 'bench';
  const loopback = await startLoopbackPair(k, ns, pair);
  const { members, ports } = loopback;
  const kubelet = new StandInKubelet(k, ns);
  kubelet.start();
  const operator = new OperatorProcess({ LEADER_ELECT: 'false', WATCH_NAMESPACE: ns, LOG_LEVEL: 'info' });
  await operator.start();
  const detection: number[] = [];
  const switchTimes: number[] = [];
  try {
    await createLoopbackPairObject(k, ns, pair, ports, {
      healthCheck: policy.healthCheck,
      failover: { failback: 'Manual', minSecondsBetweenFailovers: 0 },
    });
    const live = async () =>
      (await k.core.readNamespacedService({ namespace: ns, name: pair })).spec?.selector?.['lpo.dev/member'];
    const status = async () =>
      (
        (await k.custom.getNamespacedCustomObject({ ...GROUP, namespace: ns, name: pair })) as {
          status?: {
            phase?: string;
            lastFailover?: { detectionSeconds?: number };
            members?: Record<string, { health?: string }>;
          };
        }
      ).status;
    await until(
      'a live member',
      async () => (await live()) === 'primary' && (await status())?.phase === 'Running',
    );
    for (let i = 0; i < ROUNDS; i++) {
      const from = (await live()) as MemberName;
      const to: MemberName = from === 'primary' ? 'redundant' : 'primary';
      await until(
        'standby in sync',
        async () => (await members[to].status()).replication.state === 'in-sync',
      );
      // Let at least one healthy check of the live member pass, so the clock starts from a healthy state.
      await new Promise((r) => setTimeout(r, policy.healthCheck.periodSeconds * 1000));
      const started = performance.now();
      members[from].pause();
      await until(`switch to ${to}`, async () => (await live()) === to);
      switchTimes.push((performance.now() - started) / 1000);
      detection.push((await status())?.lastFailover?.detectionSeconds ?? NaN);
      members[from].resume();
      // Failback is Manual here: the pair stays on the new member; wait until the old one is a healthy standby.
      await until(
        'both members healthy',
        async () => {
          const st = await status();
          return st?.members?.primary?.health === 'Healthy' && st.members.redundant?.health === 'Healthy';
        },
        60_000,
      );
      process.stdout.write(
        `  ${policy.name} round ${i + 1}: fault to Service switch ${switchTimes.at(-1)!.toFixed(2)} s\n`,
      );
    }
    if (policy.name === 'default') {
      const writes = async () =>
        (await operator.metrics())
          .split('\n')
          .filter((l) => l.startsWith('lpo_api_writes_total{'))
          .reduce((s, l) => s + Number(l.split(' ')[1]), 0);
      await new Promise((r) => setTimeout(r, 3000));
      const before = await writes();
      process.stdout.write(`  measuring API writes at steady state for ${STEADY_SECONDS} s…\n`);
      await new Promise((r) => setTimeout(r, STEADY_SECONDS * 1000));
      const perMinute = ((await writes()) - before) * (60 / STEADY_SECONDS);
      process.stdout.write(
        `\nAPI writes per minute at steady state (one healthy pair): ${perMinute.toFixed(1)} (target: 0)\n`,
      );
      process.stdout.write(
        (await operator.metrics())
          .split('\n')
          .filter((l) => l.startsWith('lpo_api_writes_total{'))
          .map((l) => `    ${l}\n`)
          .join(''),
      );
    }
  } finally {
    await kubelet.stop();
    await operator.stop();
    await loopback.stop();
    await k.core.deleteNamespace({ name: ns }).catch(() => undefined);
  }
  return { detection, switchTimes };
}

async function main(): Promise<void> {
  const rows = await controlPlaneStatus().catch(() => []);
  const reuse = rows.length > 0 && rows.every((r) => r.healthy);
  if (!reuse) cluster(['up']);
  process.env.KUBECONFIG = kubeconfigPath;
  spawnSync(
    path.join(repoRoot, '.local-cluster/bin/kubectl'),
    ['--kubeconfig', kubeconfigPath, 'apply', '--server-side', '-f', path.join(repoRoot, 'crds')],
    { stdio: 'ignore' },
  );
  const k = clientsFor(kubeconfigPath);
  const policies: Policy[] = [
    {
      name: 'default',
      healthCheck: { periodSeconds: 2, timeoutSeconds: 1, failureThreshold: 3, successThreshold: 2 },
    },
    {
      name: 'aggressive',
      healthCheck: { periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 1, successThreshold: 1 },
    },
  ];
  const results: [Policy, { detection: number[]; switchTimes: number[] }][] = [];
  try {
    for (const p of policies) results.push([p, await runPolicy(k, p)]);
  } finally {
    if (!reuse) cluster(['down']);
  }
  process.stdout.write(`\nfailover of a hung live member (${ROUNDS} rounds each; 2-core machine)\n`);
  process.stdout.write('policy      period×threshold  bound(s)  switch p50  p99    max    detection p50\n');
  for (const [p, r] of results) {
    const bound = p.healthCheck.periodSeconds * p.healthCheck.failureThreshold + 1;
    process.stdout.write(
      `${p.name.padEnd(11)} ${`${p.healthCheck.periodSeconds}s×${p.healthCheck.failureThreshold}`.padEnd(17)} ${bound.toFixed(1).padEnd(9)} ` +
        `${pct(r.switchTimes, 50).toFixed(2).padEnd(11)} ${pct(r.switchTimes, 99).toFixed(2).padEnd(6)} ${Math.max(
          ...r.switchTimes,
        )
          .toFixed(2)
          .padEnd(6)} ${pct(r.detection, 50).toFixed(2)}\n`,
    );
  }
  const [d, a] = results;
  if (d && a)
    process.stdout.write(
      `aggressive/default switch p50 ratio: ${(pct(a[1].switchTimes, 50) / pct(d[1].switchTimes, 50)).toFixed(2)}\n`,
    );
}

await main();
