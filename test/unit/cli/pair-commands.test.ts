import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { run } from '../../../src/cli/kubectl-lsp.ts';
import { CliExit, EXIT } from '../../../src/cli/command-io.ts';
import { buildProgram } from '../../../src/cli/program.ts';
import { kubeError } from '../../../src/cli/kube-errors.ts';
import type { OperatorLocation, OperatorScrape } from '../../../src/cli/operator-scrape.ts';
import type { KubeOptions, PairApi } from '../../../src/cli/pair-api.ts';
import type { PairCommandDeps } from '../../../src/cli/pair-context.ts';
import type { PairObject } from '../../../src/cli/pair-object.ts';
import { NOW, failedOverPair, leaderMetricsText, runningPair } from './fixtures.ts';

const noOperator = async (): Promise<OperatorScrape> => {
  throw new Error('no running operator pod with labels app.kubernetes.io/name=license-pair-operator');
};

/**
 * An in-memory PairApi; `onGet` may change the stored pair (to simulate the operator), `scrape`
 * stands for the operator pods' /metrics (by default there is no operator).
 */
function fakeApi(
  pairs: PairObject[],
  onGet?: (p: PairObject, reads: number) => void,
  scrape: (where: OperatorLocation) => Promise<OperatorScrape> = noOperator,
) {
  const patches: { ns: string; name: string; patch: Record<string, unknown> }[] = [];
  const connects: KubeOptions[] = [];
  const scrapes: OperatorLocation[] = [];
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
        scrapeOperator: async (where) => {
          scrapes.push(where);
          return scrape(where);
        },
      };
      return api;
    },
    now: () => clock,
    sleep: async (ms) => {
      clock += ms;
    },
    pollMs: 250,
  };
  return { deps, patches, connects, scrapes };
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

describe('kubectl lsp status and list -o wide: probe times from the operator', () => {
  const fromLeader = async (): Promise<OperatorScrape> => ({
    texts: [{ pod: 'lpo-system/lpo-0', text: leaderMetricsText() }],
    failures: ['lpo-system/lpo-1: no answer within 3 s'],
  });

  it('status says when each member was last checked, and where that came from', async () => {
    const { deps, scrapes } = fakeApi([failedOverPair()], undefined, fromLeader);
    const c = capture();
    expect(await run(['status', 'eda-tools', '--operator-namespace', 'lpo-system'], c.io, deps)).toBe(0);
    const out = c.out.join('\n');
    expect(out).toContain("Probe times:    from the operator's metrics (lpo-system/lpo-0, the leader)");
    expect(out).toContain('Checks:       probing every 2 s, last ok 1 s ago; Success since');
    expect(out).toContain(
      'Checks:       probing every 2 s, last failure 1 s ago, last ok 4m12s ago; Failure since',
    );
    expect(scrapes).toEqual([
      { namespace: 'lpo-system', selector: 'app.kubernetes.io/name=license-pair-operator', timeoutMs: 3000 },
    ]);
  });

  it('status falls back to the status alone and says why when the operator cannot be read', async () => {
    const forbidden = async (): Promise<OperatorScrape> => {
      throw new Error(
        "cannot list the operator's pods in any namespace: forbidden: no (give --operator-namespace)",
      );
    };
    const { deps } = fakeApi([failedOverPair()], undefined, forbidden);
    const c = capture();
    expect(await run(['status', 'eda-tools'], c.io, deps)).toBe(0);
    const out = c.out.join('\n');
    expect(out).toContain(
      "Probe times:    unknown (cannot list the operator's pods in any namespace: forbidden: no (give --operator-namespace)); the Checks lines say only since when each result has held",
    );
    expect(out).toContain('Checks:       every 2 s; Success since 2026-03-01T11:59:59Z (1s ago)');
    expect(c.err).toEqual([]);
  });

  it('--no-operator-metrics does not read them; --operator-selector and the environment choose where', async () => {
    const { deps, scrapes } = fakeApi([failedOverPair()], undefined, fromLeader);
    const c = capture();
    expect(await run(['status', 'eda-tools', '--no-operator-metrics'], c.io, deps)).toBe(0);
    expect(scrapes).toEqual([]);
    expect(c.out.join('\n')).toContain('Probe times:    unknown (not read: --no-operator-metrics)');
    process.env.LSPCTL_OPERATOR_NAMESPACE = 'ops';
    try {
      expect(await run(['status', 'eda-tools', '--operator-selector', 'app=lpo'], capture().io, deps)).toBe(
        0,
      );
    } finally {
      delete process.env.LSPCTL_OPERATOR_NAMESPACE;
    }
    expect(scrapes).toEqual([{ namespace: 'ops', selector: 'app=lpo', timeoutMs: 3000 }]);
  });

  it('status -o json and list without -o wide do not read the operator', async () => {
    const { deps, scrapes } = fakeApi([failedOverPair()], undefined, fromLeader);
    expect(await run(['status', 'eda-tools', '-o', 'json'], capture().io, deps)).toBe(0);
    expect(await run(['list'], capture().io, deps)).toBe(0);
    expect(scrapes).toEqual([]);
  });

  it('list -o wide adds each member’s newest check; unknown ones with a warning', async () => {
    const { deps } = fakeApi([failedOverPair()], undefined, fromLeader);
    const c = capture();
    expect(await run(['list', '-o', 'wide'], c.io, deps)).toBe(0);
    expect(c.out[0]!.split('\n')[1]).toMatch(/FailedOver\s+3\s+120m\s+failure 1 s ago\s+ok 1 s ago$/);
    const none = fakeApi([failedOverPair()]);
    const d = capture();
    expect(await run(['list', '-o', 'wide'], d.io, none.deps)).toBe(0);
    expect(d.out[0]!.split('\n')[1]).toMatch(/120m\s+<unknown>\s+<unknown>$/);
    expect(d.err).toEqual([
      'warning: the last checks are unknown: no running operator pod with labels app.kubernetes.io/name=license-pair-operator',
    ]);
    expect(await run(['list', '-o', 'tall'], capture().io, deps)).toBe(2);
  });
});

describe('lspctl pair', () => {
  it('is registered on the lspctl program', async () => {
    const c = capture();
    const program = buildProgram(c.io);
    const pair = program.commands.find((cmd) => cmd.name() === 'pair');
    expect(pair?.commands.map((cmd) => cmd.name())).toEqual([
      'list',
      'status',
      'switchover',
      'failback',
      'promote',
    ]);
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
