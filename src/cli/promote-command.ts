// `pair promote NAME --accept-data-loss`: print what is given up, ask for the pair's name (unless
// --yes), write the lpo.dev/promote-accepting-data-loss annotation and, with --wait, read the
// pair until the operator has promoted the member or refused the request.
import { Option } from 'commander';
import type { Command } from 'commander';
import { ANNOTATION_PROMOTE_ACCEPTING_DATA_LOSS, MEMBERS } from '../api/pair.ts';
import type { Member } from '../api/pair.ts';
import { humanDuration, parseDuration } from './durations.ts';
import { notReadyReason } from './health-format.ts';
import type { PairCommandContext } from './pair-context.ts';
import { CliExit, EXIT } from './command-io.ts';
import { planDataLossPromotion, promoteOutcome } from './promote-plan.ts';

interface PromoteOptions {
  acceptDataLoss?: boolean;
  yes?: boolean;
  to?: Member;
  wait?: boolean;
  timeout: number;
}

export function addPromoteCommand(parent: Command, { io, deps, kube }: PairCommandContext): void {
  parent
    .command('promote')
    .description(
      `promote the member marked not promotable, giving up what the other served alone (${ANNOTATION_PROMOTE_ACCEPTING_DATA_LOSS})`,
    )
    .argument('<name>', 'the LicenseServerPair')
    .option('--accept-data-loss', 'required: you accept the loss of what was acknowledged alone')
    .option('--yes', 'do not ask for confirmation (after reading what is lost)')
    .addOption(
      new Option('--to <member>', 'the member to promote (checked against the status)').choices(MEMBERS),
    )
    .option('--wait', 'wait until the operator has promoted it or refused the request')
    .addOption(
      new Option(
        '--timeout <duration>',
        'how long --wait waits (a grant may still run for up to half a minute)',
      )
        .argParser(parseDuration)
        .default(90_000, '90s'),
    )
    .action(async (name: string, opts: PromoteOptions, cmd: Command) => {
      if (!opts.acceptDataLoss)
        throw new CliExit(
          EXIT.USAGE,
          'promoting a member marked not promotable loses what the other member acknowledged alone: say --accept-data-loss',
        );
      const { api, ns } = kube(cmd);
      const pair = await api.get(ns, name);
      const now = deps.now();
      const plan = planDataLossPromotion(pair, {
        ...(opts.to ? { to: opts.to } : {}),
        requestId: new Date(now).toISOString(),
        now,
      });
      if (plan.kind === 'refuse') throw new CliExit(EXIT.REFUSED, plan.message);
      for (const line of plan.loss) io.out(line);
      for (const n of plan.notes) io.err(n);
      if (!opts.yes) {
        const answer = await deps.ask?.(
          `Type the pair's name (${name}) to promote ${plan.target} and accept this loss: `,
        );
        if (answer === undefined)
          throw new CliExit(EXIT.USAGE, 'no terminal to confirm on: read the above and run again with --yes');
        if (answer.trim() !== name) throw new CliExit(EXIT.REFUSED, 'not confirmed: nothing was written');
      }
      await api.mergePatch(ns, name, plan.patch);
      io.out(`${name}: requested ${ANNOTATION_PROMOTE_ACCEPTING_DATA_LOSS}=${plan.value}`);
      if (!opts.wait) {
        io.err(
          `the operator records its answer in status.dataLossPromotion (Events PromotedWithDataLoss, DataLossPromotionPending, DataLossPromotionRefused); --wait waits for it`,
        );
        return;
      }
      const start = deps.now();
      for (;;) {
        const p = await api.get(ns, name);
        const outcome = promoteOutcome(p, plan.value);
        if (outcome.done) {
          if (!outcome.ok) throw new CliExit(EXIT.REFUSED, outcome.message);
          io.out(`${name}: ${outcome.message}, after ${humanDuration(deps.now() - start)}`);
          return;
        }
        if (deps.now() - start >= opts.timeout)
          throw new CliExit(
            EXIT.REFUSED,
            `timed out after ${humanDuration(opts.timeout)}: the request stays and may still be carried out (${notReadyReason(p)}); ` +
              `to withdraw it: kubectl annotate lsp ${name} -n ${ns} ${ANNOTATION_PROMOTE_ACCEPTING_DATA_LOSS}-`,
          );
        await deps.sleep(Math.min(deps.pollMs, Math.max(0, opts.timeout - (deps.now() - start))));
      }
    });
}
