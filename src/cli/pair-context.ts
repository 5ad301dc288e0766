// What every pair command gets: output, the clock, and a connection made from the -n/--context
// options of its parent (`lspctl pair` or the root of `kubectl lsp`).
import type { Command } from 'commander';
import { connect } from './pair-api.ts';
import type { KubeOptions, PairApi } from './pair-api.ts';
import type { Io } from './program.ts';

export interface PairCommandDeps {
  connect: (opts: KubeOptions) => PairApi;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** how often --wait reads the pair */
  pollMs: number;
}

export const defaultDeps: PairCommandDeps = {
  connect,
  now: () => Date.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  pollMs: 250,
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
