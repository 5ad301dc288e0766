import { describe, expect, it } from 'vitest';
import { parseDataLossRequest } from '../../../src/api/data-loss-request.ts';
import type { PairStatus } from '../../../src/api/pair.ts';
import { run } from '../../../src/cli/kubectl-lsp.ts';
import type { PairApi } from '../../../src/cli/pair-api.ts';
import type { PairCommandDeps } from '../../../src/cli/pair-context.ts';
import type { PairObject } from '../../../src/cli/pair-object.ts';
import { CliExit, EXIT } from '../../../src/cli/command-io.ts';
import { buildProgram } from '../../../src/cli/program.ts';
import { planDataLossPromotion, promoteOutcome } from '../../../src/cli/promote-plan.ts';
import { formatPairSummary } from '../../../src/cli/status-summary.ts';
import { NOW } from './fixtures.ts';

const SINCE = '2026-03-01T10:00:00Z';
const ANNOTATION = 'lpo.dev/promote-accepting-data-loss';
const REQUEST_ID = new Date(NOW).toISOString();
const VALUE = `redundant@${SINCE}#${REQUEST_ID}`;

/** The primary served alone, then its node went away: no member serves, the redundant one is not promotable. */
function outagePair(status: Partial<PairStatus> = {}): PairObject {
  return {
    metadata: { name: 'eda-tools', namespace: 'licensing' },
    spec: { preferredMember: 'primary' },
    status: {
      liveMember: '',
      phase: 'Unavailable',
      epoch: 7,
      servingAlone: { member: 'primary', epoch: 7, since: SINCE },
      members: {
        primary: { health: 'Unhealthy', healthReason: 'NodeNotReady' },
        redundant: { health: 'Healthy', role: 'standby', replication: { state: 'disconnected' } },
      },
      conditions: [
        {
          type: 'Ready',
          status: 'False',
          reason: 'StandbyNotPromotable',
          message: 'no member can serve',
          lastTransitionTime: '2026-03-01T11:00:00Z',
        },
      ],
      ...status,
    },
  };
}

describe('planDataLossPromotion', () => {
  const plan = (pair: PairObject, to?: 'primary' | 'redundant') =>
    planDataLossPromotion(pair, { ...(to ? { to } : {}), requestId: REQUEST_ID, now: NOW });

  it('names the member not promotable and the episode, and says what is given up', () => {
    const p = plan(outagePair());
    expect(p).toMatchObject({
      kind: 'patch',
      target: 'redundant',
      value: VALUE,
      patch: { metadata: { annotations: { [ANNOTATION]: VALUE } } },
      notes: [],
    });
    if (p.kind !== 'patch') return;
    expect(parseDataLossRequest(p.value)).toEqual({
      member: 'redundant',
      since: Date.parse(SINCE),
      id: REQUEST_ID,
    });
    const text = p.loss.join('\n');
    expect(text).toContain('eda-tools: no member serves (StandbyNotPromotable: no member can serve).');
    expect(text).toContain(
      `The primary member served alone from ${SINCE} (120m ago, epoch 7) and is Unhealthy (NodeNotReady).`,
    );
    expect(text).toContain(
      `Promoting the redundant member gives up every lease change the primary member acknowledged alone since ${SINCE}:`,
    );
    expect(text).toMatch(/checkouts made since then: .*LEASE_NOT_FOUND/);
    expect(text).toMatch(/releases and revocations made since then: undone/);
    expect(text).toContain('resyncs from redundant and drops those changes');
    expect(p.loss.every((l) => !l.includes('undefined'))).toBe(true);
  });

  it.each([
    ['no status', { ...outagePair(), status: undefined } as PairObject, /has not reported/],
    ['no episode', outagePair({ servingAlone: undefined }), /nothing to override/],
    [
      'the member that served alone is live',
      outagePair({ liveMember: 'primary' }),
      /primary member, which served alone, is live/,
    ],
    [
      'the other is live already',
      outagePair({ liveMember: 'redundant' }),
      /redundant member is already live/,
    ],
    [
      'the member that served alone is healthy again',
      outagePair({ members: { primary: { health: 'Healthy' }, redundant: { health: 'Healthy' } } }),
      /has every lease, is healthy/,
    ],
  ])('refuses: %s', (_n, pair, message) => {
    const p = plan(pair);
    expect(p.kind).toBe('refuse');
    if (p.kind === 'refuse') expect(p.message).toMatch(message);
  });

  it('refuses --to naming the member that served alone; accepts --to naming the right one', () => {
    expect(plan(outagePair(), 'primary')).toMatchObject({
      kind: 'refuse',
      message: /--to primary names the member that served alone/,
    });
    expect(plan(outagePair(), 'redundant')).toMatchObject({ kind: 'patch', target: 'redundant' });
  });

  it('notes a member to promote that is not healthy yet, and an earlier request still pending', () => {
    const pair = outagePair({
      members: {
        primary: { health: 'Unhealthy' },
        redundant: { health: 'Unknown', healthReason: 'NotProbed' },
      },
    });
    pair.metadata.annotations = { [ANNOTATION]: `redundant@${SINCE}#earlier` };
    const p = plan(pair);
    expect(p.kind === 'patch' && p.notes).toEqual([
      'note: redundant is Unknown (NotProbed): the operator promotes it once it is healthy',
      `note: an earlier request of this episode is pending (redundant@${SINCE}#earlier); this one replaces it`,
    ]);
  });
});

describe('promoteOutcome', () => {
  it('is known once status.dataLossPromotion records this very value', () => {
    expect(promoteOutcome(outagePair(), VALUE)).toEqual({ done: false });
    const handled = (outcome: 'Promoted' | 'Refused', request = VALUE) =>
      outagePair({
        dataLossPromotion: {
          request,
          outcome,
          reason: outcome === 'Promoted' ? 'DataLossAccepted' : 'StaleEpisode',
          message: 'm',
          time: '2026-03-01T12:00:05Z',
          ...(outcome === 'Promoted'
            ? { member: 'redundant', epoch: 8, servedAlone: { member: 'primary', epoch: 7, since: SINCE } }
            : {}),
        },
      });
    expect(promoteOutcome(handled('Promoted', 'other'), VALUE)).toEqual({ done: false });
    expect(promoteOutcome(handled('Promoted'), VALUE)).toEqual({
      done: true,
      ok: true,
      message: `redundant is live (epoch 8), promoted accepting the loss of what primary acknowledged alone since ${SINCE}`,
    });
    expect(promoteOutcome(handled('Refused'), VALUE)).toEqual({
      done: true,
      ok: false,
      message: 'the operator refused the request (StaleEpisode): m',
    });
    // pair status says what became of it
    expect(formatPairSummary(handled('Promoted'), [], NOW)).toMatch(
      /Data-loss req: +redundant@.*, 2026-03-01T12:00:05Z \(.*\): promoted redundant \(epoch 8\), giving up what primary acknowledged alone since/,
    );
    const pending = outagePair();
    pending.metadata.annotations = { [ANNOTATION]: VALUE };
    expect(formatPairSummary(pending, [], NOW)).toContain(`Data-loss req:  ${VALUE} (pending)`);
  });
});

/** An in-memory API with one pair; `onGet` plays the operator. */
function fakeApi(
  pair: PairObject,
  opts: { answers?: (string | undefined)[]; onGet?: (p: PairObject, reads: number) => void } = {},
) {
  const patches: Record<string, unknown>[] = [];
  const questions: string[] = [];
  let reads = 0;
  let clock = NOW;
  const answers = [...(opts.answers ?? [])];
  const api: PairApi = {
    server: 'https://fake:6443',
    namespace: 'licensing',
    get: async (_ns, name) => {
      if (name !== pair.metadata.name)
        throw new CliExit(EXIT.REFUSED, `licenseserverpair "${name}" not found`);
      opts.onGet?.(pair, ++reads);
      return structuredClone(pair);
    },
    list: async () => [pair],
    mergePatch: async (_ns, _name, patch) => {
      patches.push(patch);
      const ann = (patch as { metadata?: { annotations?: Record<string, string> } }).metadata?.annotations;
      pair.metadata.annotations = { ...pair.metadata.annotations, ...ann };
      return pair;
    },
    events: async () => [],
    scrapeOperator: async () => {
      throw new Error('no operator');
    },
  };
  const deps: PairCommandDeps = {
    connect: () => api,
    now: () => clock,
    sleep: async (ms) => {
      clock += ms;
    },
    pollMs: 250,
    ask: async (q) => {
      questions.push(q);
      return answers.shift();
    },
  };
  return { deps, patches, questions };
}

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s) }, out, err };
}

describe('kubectl lsp promote / lspctl pair promote', () => {
  it('without --accept-data-loss: a usage error, nothing read or written', async () => {
    const f = fakeApi(outagePair());
    const c = capture();
    expect(await run(['promote', 'eda-tools'], c.io, f.deps)).toBe(EXIT.USAGE);
    expect(c.err.join('\n')).toMatch(
      /loses what the other member acknowledged alone: say --accept-data-loss/,
    );
    expect(f.patches).toEqual([]);
  });

  it('prints the loss, asks for the pair’s name, and writes the annotation once confirmed', async () => {
    const f = fakeApi(outagePair(), { answers: ['eda-tools'] });
    const c = capture();
    expect(await run(['promote', 'eda-tools', '--accept-data-loss'], c.io, f.deps)).toBe(0);
    expect(f.questions).toEqual([
      "Type the pair's name (eda-tools) to promote redundant and accept this loss: ",
    ]);
    expect(f.patches).toEqual([{ metadata: { annotations: { [ANNOTATION]: VALUE } } }]);
    expect(c.out[0]).toBe('eda-tools: no member serves (StandbyNotPromotable: no member can serve).');
    expect(c.out.at(-1)).toBe(`eda-tools: requested ${ANNOTATION}=${VALUE}`);
  });

  it('a wrong answer writes nothing (exit 1); no terminal writes nothing either (exit 2, use --yes)', async () => {
    const wrong = fakeApi(outagePair(), { answers: ['yes'] });
    const c = capture();
    expect(await run(['promote', 'eda-tools', '--accept-data-loss'], c.io, wrong.deps)).toBe(EXIT.REFUSED);
    expect(c.err.join('\n')).toContain('not confirmed: nothing was written');
    expect(wrong.patches).toEqual([]);
    const noTerminal = fakeApi(outagePair(), { answers: [undefined] });
    const d = capture();
    expect(await run(['promote', 'eda-tools', '--accept-data-loss'], d.io, noTerminal.deps)).toBe(EXIT.USAGE);
    expect(d.out.join('\n')).toContain('gives up every lease change'); // printed before refusing
    expect(d.err.join('\n')).toContain('run again with --yes');
    expect(noTerminal.patches).toEqual([]);
  });

  it('--yes does not ask', async () => {
    const f = fakeApi(outagePair());
    expect(await run(['promote', 'eda-tools', '--accept-data-loss', '--yes'], capture().io, f.deps)).toBe(0);
    expect(f.questions).toEqual([]);
    expect(f.patches).toHaveLength(1);
  });

  it('refuses a pair that is served, before asking anything', async () => {
    const f = fakeApi(outagePair({ liveMember: 'primary' }), { answers: ['eda-tools'] });
    const c = capture();
    expect(await run(['promote', 'eda-tools', '--accept-data-loss'], c.io, f.deps)).toBe(EXIT.REFUSED);
    expect(f.questions).toEqual([]);
    expect(f.patches).toEqual([]);
  });

  it('--wait: until the operator records the request as carried out', async () => {
    const f = fakeApi(outagePair(), {
      onGet: (p, reads) => {
        if (reads < 4) return;
        p.status = {
          ...p.status,
          liveMember: 'redundant',
          dataLossPromotion: {
            request: p.metadata.annotations![ANNOTATION]!,
            outcome: 'Promoted',
            reason: 'DataLossAccepted',
            message: 'promoting',
            time: '2026-03-01T12:00:01Z',
            member: 'redundant',
            epoch: 8,
            servedAlone: { member: 'primary', epoch: 7, since: SINCE },
          },
        };
      },
    });
    const c = capture();
    expect(await run(['promote', 'eda-tools', '--accept-data-loss', '--yes', '--wait'], c.io, f.deps)).toBe(
      0,
    );
    expect(c.out.at(-1)).toBe(
      `eda-tools: redundant is live (epoch 8), promoted accepting the loss of what primary acknowledged alone since ${SINCE}, after 0s`,
    );
  });

  it('--wait: a refusal exits 1 with the operator’s reason; a timeout says how to withdraw the request', async () => {
    const refused = fakeApi(outagePair(), {
      onGet: (p, reads) => {
        if (reads > 1)
          p.status = {
            ...p.status,
            dataLossPromotion: {
              request: p.metadata.annotations![ANNOTATION]!,
              outcome: 'Refused',
              reason: 'ServedAloneMemberBack',
              message: 'the primary member is healthy again',
              time: '2026-03-01T12:00:01Z',
            },
          };
      },
    });
    const c = capture();
    expect(
      await run(['promote', 'eda-tools', '--accept-data-loss', '--yes', '--wait'], c.io, refused.deps),
    ).toBe(1);
    expect(c.err.join('\n')).toContain('the operator refused the request (ServedAloneMemberBack)');
    const slow = fakeApi(outagePair());
    const d = capture();
    expect(
      await run(
        ['promote', 'eda-tools', '--accept-data-loss', '--yes', '--wait', '--timeout', '5s'],
        d.io,
        slow.deps,
      ),
    ).toBe(1);
    expect(d.err.join('\n')).toMatch(
      /timed out after 5s: the request stays .*kubectl annotate lsp eda-tools -n licensing lpo\.dev\/promote-accepting-data-loss-/,
    );
  });

  it('is `lspctl pair promote` too', () => {
    const pair = buildProgram(capture().io).commands.find((cmd) => cmd.name() === 'pair');
    const promote = pair?.commands.find((cmd) => cmd.name() === 'promote');
    expect(promote?.options.map((o) => o.long)).toEqual([
      '--accept-data-loss',
      '--yes',
      '--to',
      '--wait',
      '--timeout',
    ]);
  });
});
