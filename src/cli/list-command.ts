// `pair list [-A] [-o wide]`.
import { Option } from 'commander';
import type { Command } from 'commander';
import { formatPairTable } from './list-table.ts';
import type { PairCommandContext } from './pair-context.ts';
import type { PairObject } from './pair-object.ts';
import { probesOfPair } from './probe-metrics.ts';
import type { PairProbes } from './probe-metrics.ts';
import { addOperatorOptions, readOperator } from './probe-reading.ts';
import type { OperatorOptions } from './probe-reading.ts';

interface ListOptions extends OperatorOptions {
  allNamespaces?: boolean;
  output?: 'wide';
}

export function addListCommand(parent: Command, { io, deps, kube }: PairCommandContext): void {
  const list = parent
    .command('list')
    .alias('ls')
    .description('pairs with their live member, member health and phase (and why when not Ready)')
    .option('-A, --all-namespaces', 'pairs of every namespace')
    .addOption(
      new Option('-o, --output <format>', "wide: also each member's last check, from the operator").choices([
        'wide',
      ]),
    );
  addOperatorOptions(list).action(async (opts: ListOptions, cmd: Command) => {
    const { api, ns } = kube(cmd);
    const pairs = await api.list(opts.allNamespaces ? undefined : ns);
    if (pairs.length === 0) {
      io.err(opts.allNamespaces ? 'No resources found' : `No resources found in ${ns} namespace.`);
      return;
    }
    let probesOf: ((pair: PairObject) => PairProbes) | undefined;
    if (opts.output === 'wide') {
      const reading = await readOperator(api, opts);
      if (reading.kind === 'unavailable') io.err(`warning: the last checks are unknown: ${reading.reason}`);
      probesOf = (p) => probesOfPair(reading, p.metadata.namespace ?? ns, p.metadata.name);
    }
    io.out(formatPairTable(pairs, { allNamespaces: opts.allNamespaces, now: deps.now(), probesOf }));
  });
}
