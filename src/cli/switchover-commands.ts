// `pair switchover NAME [--to M]` and `pair failback NAME`: carry out a plan
// (src/cli/switchover-plans.ts) and, with --wait, read the pair until the target is live.
import { Option } from 'commander';
import type { Command } from 'commander';
import { ANNOTATION_SWITCHOVER_REQUEST, MEMBERS } from '../api/pair.ts';
import type { Member } from '../api/pair.ts';
import { humanDuration, parseDuration } from './durations.ts';
import type { PairApi } from './pair-api.ts';
import type { PairCommandContext, PairCommandDeps } from './pair-context.ts';
import type { PairObject } from './pair-object.ts';
import { CliExit, EXIT } from './command-io.ts';
import type { Io } from './command-io.ts';
import { planFailback, planSwitchover, waitingFor } from './switchover-plans.ts';
import type { Plan } from './switchover-plans.ts';

interface WaitOptions {
  wait?: boolean;
  timeout: number;
  force?: boolean;
}

const memberOption = (): Option =>
  new Option('--to <member>', 'the member to switch to (default: the one that is not live)').choices(MEMBERS);

const timeoutOption = (): Option =>
  new Option('--timeout <duration>', 'how long --wait waits (60s, 2m, …)')
    .argParser(parseDuration)
    .default(60_000, '60s');

/** Wait until status.liveMember is `target`; returns the milliseconds it took. */
async function waitForLive(
  api: PairApi,
  ns: string,
  name: string,
  target: Member,
  timeoutMs: number,
  deps: PairCommandDeps,
): Promise<{ ms: number; pair: PairObject }> {
  const start = deps.now();
  for (;;) {
    const pair = await api.get(ns, name);
    if (pair.status?.liveMember === target) return { ms: deps.now() - start, pair };
    if (deps.now() - start >= timeoutMs) {
      throw new CliExit(
        EXIT.REFUSED,
        `timed out after ${humanDuration(timeoutMs)} waiting for ${target} to become live: ${waitingFor(pair, target)}`,
      );
    }
    await deps.sleep(Math.min(deps.pollMs, Math.max(0, timeoutMs - (deps.now() - start))));
  }
}

async function applyPlan(
  plan: Plan,
  api: PairApi,
  ns: string,
  name: string,
  opts: WaitOptions,
  io: Io,
  deps: PairCommandDeps,
): Promise<void> {
  if (plan.kind === 'refuse') throw new CliExit(EXIT.REFUSED, plan.message);
  if (plan.kind === 'patch') await api.mergePatch(ns, name, plan.patch);
  io.out(`${name}: ${plan.message}`);
  if (plan.kind === 'patch') for (const n of plan.notes) io.err(n);
  if (!opts.wait || plan.kind === 'noop') return;
  const { ms, pair } = await waitForLive(api, ns, name, plan.target, opts.timeout, deps);
  const epoch = pair.status?.epoch === undefined ? '' : ` (epoch ${pair.status.epoch})`;
  io.out(`${name}: ${plan.target} is live after ${(ms / 1000).toFixed(1)}s${epoch}`);
}

export function addSwitchoverCommands(parent: Command, { io, deps, kube }: PairCommandContext): void {
  // A new value each time, so that the operator sees a new request.
  const requestValue = (): string => new Date(deps.now()).toISOString();

  parent
    .command('switchover')
    .description('planned switchover: make a member the preferred one (spec.preferredMember)')
    .argument('<name>', 'the LicenseServerPair')
    .addOption(memberOption())
    .option('--wait', 'wait until the target member is live')
    .addOption(timeoutOption())
    .option('--force', 'patch even when the status says the target is not healthy')
    .action(async (name: string, opts: WaitOptions & { to?: Member }, cmd: Command) => {
      const { api, ns } = kube(cmd);
      const pair = await api.get(ns, name);
      const plan = planSwitchover(pair, { to: opts.to, force: opts.force, requestValue: requestValue() });
      await applyPlan(plan, api, ns, name, opts, io, deps);
    });

  parent
    .command('failback')
    .description(`return to spec.preferredMember now (sets the ${ANNOTATION_SWITCHOVER_REQUEST} annotation)`)
    .argument('<name>', 'the LicenseServerPair')
    .option('--wait', 'wait until the preferred member is live')
    .addOption(timeoutOption())
    .option('--force', 'annotate even when the status says the preferred member is not healthy')
    .action(async (name: string, opts: WaitOptions, cmd: Command) => {
      const { api, ns } = kube(cmd);
      const pair = await api.get(ns, name);
      const plan = planFailback(pair, { force: opts.force, requestValue: requestValue() });
      await applyPlan(plan, api, ns, name, opts, io, deps);
    });
}
