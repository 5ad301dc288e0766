import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { run } from '../../../src/cli/kubectl-lsp.ts';
import { CliExit, EXIT, buildProgram } from '../../../src/cli/program.ts';
import { kubeError } from '../../../src/cli/pair-commands.ts';
import type { KubeOptions, PairApi, PairCommandDeps, PairObject } from '../../../src/cli/pair-commands.ts';
import { NOW, failedOverPair, runningPair } from './fixtures.ts';

/** An in-memory PairApi; `onGet` may change the stored pair (to simulate the operator). */
function fakeApi(pairs: PairObject[], onGet?: (p: PairObject, reads: number) => void) {
  const patches: { ns: string; name: string; patch: Record<string, unknown> }[] = [];
  const connects: KubeOptions[] = [];
  let reads = 0;
  const find = (ns: string, name: string): PairObject => {
    const p = pairs.find((x) => x.metadata.name === name && (x.metadata.namespace ?? 'default') === ns);
    if (!p) throw new CliExit(EXIT.REFUSED, `licenseserverpair "${name}" in namespace "${ns}" not found`);
    return p;
  };
  let clock = NOW;
  const deps: PairCommandDeps = {
    connect: (opts) => {
      connects.push(opts);
      const api: PairApi = {
        server: 'https://fake:6443',
        namespace: opts.namespace ?? 'licensing',
        get: async (ns, name) => {
          const p = find(ns, name);
          onGet?.(p, ++reads);
          return structuredClone(p);
        },
        list: async (ns) => pairs.filter((p) => ns === undefined || p.metadata.namespace === ns),
        mergePatch: async (ns, name, patch) => {
          const p = find(ns, name);
          patches.push({ ns, name, patch });
          const spec = (patch as { spec?: object }).spec;
          const ann = (patch as { metadata?: { annotations?: Record<string, string> } }).metadata
            ?.annotations;
          if (spec) p.spec = { ...p.spec, ...spec };
          if (ann) p.metadata.annotations = { ...p.metadata.annotations, ...ann };
          return p;
        },
        events: async () => [
          {
            type: 'Normal',
            reason: 'Promoted',
            message: 'primary promoted',
            count: 1,
            time: '2026-03-01T11:59:00Z',
          },
        ],
      };
      return api;
    },
    now: () => clock,
    sleep: async (ms) => {
      clock += ms;
    },
    pollMs: 250,
  };
  return { deps, patches, connects };
}

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s) }, out, err };
}

describe('kubectl lsp (fake API)', () => {
  it('status prints the summary with events; -n and --context reach the connection', async () => {
    const { deps, connects } = fakeApi([runningPair()]);
    const c = capture();
    expect(await run(['status', 'eda-tools', '-n', 'licensing', '--context', 'prod'], c.io, deps)).toBe(0);
    expect(connects).toEqual([{ namespace: 'licensing', context: 'prod' }]);
    expect(c.out.join('\n')).toContain('Live member:    primary');
    expect(c.out.join('\n')).toMatch(/Normal\s+Promoted\s+60s\s+1\s+primary promoted/);
  });

  it('status -o json prints the object', async () => {
    const { deps } = fakeApi([runningPair()]);
    const c = capture();
    expect(await run(['-n', 'licensing', 'status', 'eda-tools', '-o', 'json'], c.io, deps)).toBe(0);
    expect(JSON.parse(c.out.join('\n'))).toMatchObject({ status: { liveMember: 'primary' } });
  });

  it('list, and list in an empty namespace', async () => {
    const { deps } = fakeApi([runningPair('a'), failedOverPair()]);
    const c = capture();
    expect(await run(['list'], c.io, deps)).toBe(0);
    expect(c.out[0]!.split('\n')).toHaveLength(3);
    const d = capture();
    expect(await run(['list', '-n', 'empty'], d.io, deps)).toBe(0);
    expect(d.err).toEqual(['No resources found in empty namespace.']);
  });

  it('switchover --wait patches, waits until the target is live and says how long it took', async () => {
    const { deps, patches } = fakeApi([runningPair()], (p, reads) => {
      if (reads === 5) p.status = { ...p.status, liveMember: 'redundant', epoch: 3 };
    });
    const c = capture();
    expect(await run(['switchover', 'eda-tools', '--wait'], c.io, deps)).toBe(0);
    expect(patches).toEqual([
      { ns: 'licensing', name: 'eda-tools', patch: { spec: { preferredMember: 'redundant' } } },
    ]);
    expect(c.out).toEqual([
      'eda-tools: switchover to redundant requested (spec.preferredMember=redundant)',
      'eda-tools: redundant is live after 0.8s (epoch 3)',
    ]);
  });

  it('switchover --wait times out with exit 1 and the status', async () => {
    const { deps } = fakeApi([runningPair()]);
    const c = capture();
    expect(await run(['switchover', 'eda-tools', '--wait', '--timeout', '2s'], c.io, deps)).toBe(1);
    expect(c.err.at(-1)).toMatch(
      /^error: timed out after 2s waiting for redundant to become live: live is primary; redundant is Healthy/,
    );
  });

  it('switchover to an unhealthy member is refused (exit 1) without patching', async () => {
    const { deps, patches } = fakeApi([failedOverPair()]);
    const c = capture();
    expect(await run(['switchover', 'eda-tools', '--to', 'primary'], c.io, deps)).toBe(1);
    expect(patches).toEqual([]);
    expect(c.err).toEqual([
      'error: cannot switch over to primary: primary is Unhealthy (ProbeFailed: connect ECONNREFUSED 10.0.0.5:7071)',
    ]);
  });

  it('failback sets the annotation to a new value', async () => {
    const p = failedOverPair();
    p.status!.members!.primary!.health = 'Healthy';
    const { deps, patches } = fakeApi([p]);
    const c = capture();
    expect(await run(['failback', 'eda-tools'], c.io, deps)).toBe(0);
    expect(patches).toEqual([
      {
        ns: 'licensing',
        name: 'eda-tools',
        patch: { metadata: { annotations: { 'lpo.dev/switchover-request': new Date(NOW).toISOString() } } },
      },
    ]);
    expect(c.err).toEqual([expect.stringMatching(/^note: primary is catching-up/)]);
  });

  it('usage errors exit 2, a missing pair exits 1', async () => {
    const { deps } = fakeApi([]);
    for (const args of [
      ['switchover', 'x', '--to', 'tertiary'],
      ['status'],
      ['nope'],
      ['failback', 'x', '--timeout', 'soon'],
    ]) {
      expect(await run(args, capture().io, deps), args.join(' ')).toBe(2);
    }
    const c = capture();
    expect(await run(['status', 'missing'], c.io, deps)).toBe(1);
    expect(c.err).toEqual(['error: licenseserverpair "missing" in namespace "licensing" not found']);
    expect(await run(['--help'], capture().io, deps)).toBe(0);
  });
});

describe('lspctl pair', () => {
  it('is registered on the lspctl program', async () => {
    const c = capture();
    const program = buildProgram(c.io);
    const pair = program.commands.find((cmd) => cmd.name() === 'pair');
    expect(pair?.commands.map((cmd) => cmd.name())).toEqual(['list', 'status', 'switchover', 'failback']);
  });
});

describe('kubeError', () => {
  const server = 'https://k:6443';
  it('maps 404s of a missing object and of a missing CRD to exit 1', () => {
    const notFound = new k8s.ApiException(
      404,
      'not found',
      JSON.stringify({
        kind: 'Status',
        reason: 'NotFound',
        details: { name: 'x', kind: 'licenseserverpairs' },
      }),
      {},
    );
    expect(kubeError(notFound, 'licenseserverpair "x" in namespace "n"', server)).toMatchObject({
      code: 1,
      message: 'licenseserverpair "x" in namespace "n" not found',
    });
    const noCrd = new k8s.ApiException(404, 'nf', '404 page not found\n', {});
    expect(kubeError(noCrd, 'x', server).message).toMatch(
      /LicenseServerPair API \(lpo.dev\/v1alpha1\) is not installed/,
    );
  });
  it('forbidden is 1, server errors and network errors are 3', () => {
    const forbidden = new k8s.ApiException(403, 'f', { message: 'user "bob" cannot patch' }, {});
    expect(kubeError(forbidden, 'x', server)).toMatchObject({
      code: 1,
      message: 'forbidden: user "bob" cannot patch',
    });
    expect(kubeError(new k8s.ApiException(503, 'u', '', {}), 'x', server).code).toBe(3);
    const net = Object.assign(new Error('fetch failed'), {
      cause: { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' },
    });
    expect(kubeError(net, 'x', server)).toMatchObject({
      code: 3,
      message: 'cannot reach the Kubernetes API server https://k:6443: connect ECONNREFUSED',
    });
  });
});
