// The lspctl command tree. Other modules add commands through registerCommands() (for example
// src/cli/pair-commands.ts: `pair status`, `pair switchover` through the Kubernetes API); they
// are imported by lspctl.ts before buildProgram() runs.
import { Command } from 'commander';
import { defaultIo } from './command-io.ts';
import type { Io } from './command-io.ts';
import { addLeaseCommands } from './lease-commands.ts';
import { addLicenceCommands } from './licence-commands.ts';
import { addServerCommands } from './server-commands.ts';

export type Registration = (program: Command, io: Io) => void;
const registrations: Registration[] = [];

/** Add commands to lspctl (called at import time by command modules). */
export function registerCommands(fn: Registration): void {
  registrations.push(fn);
}

export function buildProgram(io: Io = defaultIo): Command {
  const program = new Command('lspctl')
    .description('licence-server pair tools: licence files, checkout/release, server status')
    .showHelpAfterError()
    // before any subcommand is added, so that each inherits it: a usage error reaches lspctl.ts as
    // a CommanderError (exit 2) instead of exiting with 1 where commander finds it
    .exitOverride();

  addLicenceCommands(program, io);
  addLeaseCommands(program, io);
  addServerCommands(program, io);

  for (const register of registrations) register(program, io);
  return program;
}
