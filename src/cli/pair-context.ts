// What every pair command gets: output, the clock, and a connection made from the -n/--context
// options of its parent (`lspctl pair` or the root of `kubectl lsp`).
import readline from 'node:readline/promises';
import type { Command } from 'commander';
import { connect } from './pair-api.ts';
import type { KubeOptions, PairApi } from './pair-api.ts';
import type { Io } from './command-io.ts';

export interface PairCommandDeps {
  connect: (opts: KubeOptions) => PairApi;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** how often --wait reads the pair */
  pollMs: number;
  /** a question to a person at a terminal: the line typed, or undefined when there is no terminal */
  ask?: (question: string) => Promise<string | undefined>;
}

async function askAtTerminal(question: string): Promise<string | undefined> {
  if (!process.stdin.isTTY) return undefined;
  // stdout carries results only (scripts read it): the question goes to stderr.
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}

export const defaultDeps: PairCommandDeps = {
  connect,
  now: () => Date.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  pollMs: 250,
  ask: askAtTerminal,
};

export interface PairCommandContext {
  io: Io;
  deps: PairCommandDeps;
  /** the API and the namespace, from the options of the command and of its parents */
  kube(cmd: Command): { api: PairApi; ns: string };
}

export function pairCommandContext(io: Io, deps: PairCommandDeps): PairCommandContext {
  return {
    io,
    deps,
    kube: (cmd) => {
      const g = cmd.optsWithGlobals<KubeOptions>();
      const api = deps.connect({ namespace: g.namespace, context: g.context });
      return { api, ns: api.namespace };
    },
  };
}
