// `pair status NAME [-o json|yaml]`.
import { Option } from 'commander';
import type { Command } from 'commander';
import type { PairApi } from './pair-api.ts';
import type { PairCommandContext } from './pair-context.ts';
import { recentEvents } from './pair-events.ts';
import type { PairEvent } from './pair-object.ts';
import type { Io } from './command-io.ts';
import { probesOfPair } from './probe-metrics.ts';
import { addOperatorOptions, readOperator } from './probe-reading.ts';
import type { OperatorOptions } from './probe-reading.ts';
import { formatPairDocument, formatPairSummary } from './status-summary.ts';

interface StatusOptions extends OperatorOptions {
  output?: 'json' | 'yaml';
}

/** Events are a nicety: a user who may read pairs but not events still gets the summary. */
async function eventsOrWarning(api: PairApi, ns: string, name: string, io: Io): Promise<PairEvent[]> {
  try {
    return recentEvents(await api.events(ns, name));
  } catch (err) {
    io.err(`warning: cannot list events: ${(err as Error).message}`);
    return [];
  }
}

export function addStatusCommand(parent: Command, { io, deps, kube }: PairCommandContext): void {
  const status = parent
    .command('status')
    .description('live member, phase, both members, last failover, conditions and recent events of a pair')
    .argument('<name>', 'the LicenseServerPair')
    .addOption(new Option('-o, --output <format>', 'print the object instead').choices(['json', 'yaml']));
  addOperatorOptions(status).action(async (name: string, opts: StatusOptions, cmd: Command) => {
    const { api, ns } = kube(cmd);
    const pair = await api.get(ns, name);
    if (opts.output) {
      io.out(formatPairDocument(pair, opts.output));
      return;
    }
    const [events, reading] = await Promise.all([
      eventsOrWarning(api, ns, name, io),
      readOperator(api, opts),
    ]);
    io.out(formatPairSummary(pair, events, deps.now(), probesOfPair(reading, ns, name)));
  });
}
