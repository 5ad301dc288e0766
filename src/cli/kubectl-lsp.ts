#!/usr/bin/env node
// kubectl-lsp: the kubectl plugin. kubectl runs any executable named kubectl-lsp on PATH for
// `kubectl lsp …`; `kubectl lsp status|list|switchover|failback|promote` are `lspctl pair …` (see
// docs/cli.md for installing it). Exit codes: 0 ok, 1 refused/failed, 2 usage, 3 API server
// unreachable.
import { Command, CommanderError } from 'commander';
import { addPairCommands } from './pair-commands.ts';
import type { PairCommandDeps } from './pair-context.ts';
import { CliExit, EXIT, defaultIo } from './command-io.ts';
import type { Io } from './command-io.ts';

export function buildKubectlLsp(io: Io = defaultIo, deps?: PairCommandDeps): Command {
  const program = new Command('kubectl lsp').description(
    'LicenseServerPairs (lpo.dev): list, status, planned switchover, failback, promote accepting data loss',
  );
  program.showHelpAfterError();
  return addPairCommands(program, io, deps);
}

/** Runs `kubectl lsp` with `args` (without the program name); returns the exit code. */
export async function run(args: string[], io: Io = defaultIo, deps?: PairCommandDeps): Promise<number> {
  const program = buildKubectlLsp(io, deps);
  try {
    await program.parseAsync(args, { from: 'user' });
    return EXIT.OK;
  } catch (err) {
    if (err instanceof CliExit) {
      if (err.message) io.err(`error: ${err.message}`);
      return err.code;
    }
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    io.err(`error: ${(err as Error).stack ?? String(err)}`);
    return EXIT.UNAVAILABLE;
  }
}

if (import.meta.main) process.exitCode = await run(process.argv.slice(2));
