#!/usr/bin/env node
// lspctl: the command-line tool of license-pair-operator (also usable as a kubectl plugin).
// Command modules register themselves with registerCommands() when imported; import them here.
import { CommanderError } from 'commander';
import './pair-commands.ts';
import { CliExit, EXIT } from './command-io.ts';
import { buildProgram } from './program.ts';

export async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
    return EXIT.OK;
  } catch (err) {
    if (err instanceof CliExit) {
      if (err.message) process.stderr.write(`lspctl: ${err.message}\n`);
      return err.code;
    }
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    process.stderr.write(`lspctl: ${(err as Error).stack ?? String(err)}\n`);
    return EXIT.UNAVAILABLE;
  }
}

if (import.meta.main) process.exitCode = await run(process.argv);
