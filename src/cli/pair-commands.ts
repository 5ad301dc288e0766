// The `pair` command group: `lspctl pair list|status|switchover|failback|promote`, and the same commands at
// the root of `kubectl lsp` (src/cli/kubectl-lsp.ts), for LicenseServerPairs through the
// Kubernetes API. Importing this module registers `pair` on lspctl (src/cli/program.ts).
//
// Each command is a module of its own; what they print and decide are pure functions of the pair
// object (unit-tested in test/unit/cli/), and the commands only read, patch and wait.
import type { Command } from 'commander';
import { addListCommand } from './list-command.ts';
import { defaultDeps, pairCommandContext } from './pair-context.ts';
import type { PairCommandDeps } from './pair-context.ts';
import type { Io } from './command-io.ts';
import { registerCommands } from './program.ts';
import { addPromoteCommand } from './promote-command.ts';
import { addStatusCommand } from './status-command.ts';
import { addSwitchoverCommands } from './switchover-commands.ts';

/**
 * Add list/status/switchover/failback/promote to `parent` (`lspctl pair`, or the root of `kubectl lsp`),
 * with -n/--namespace and --context on `parent`.
 */
export function addPairCommands(parent: Command, io: Io, deps: PairCommandDeps = defaultDeps): Command {
  parent
    .option('-n, --namespace <namespace>', 'namespace of the pair (default: the context’s namespace)')
    .option('--context <context>', 'kubeconfig context to use')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });
  const ctx = pairCommandContext(io, deps);
  addListCommand(parent, ctx);
  addStatusCommand(parent, ctx);
  addSwitchoverCommands(parent, ctx);
  addPromoteCommand(parent, ctx);
  return parent;
}

registerCommands((program, io) => {
  addPairCommands(
    program
      .command('pair')
      .description(
        'LicenseServerPairs through the Kubernetes API: list, status, switchover, failback, promote',
      ),
    io,
  );
});
