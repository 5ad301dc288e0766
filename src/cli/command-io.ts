// What every command, of lspctl and of kubectl lsp, writes to and ends with: commands take an Io
// rather than the process's streams so that tests run them in-process, and end by throwing
// CliExit so that only lspctl.ts and kubectl-lsp.ts set the process's exit code.

/** Exit codes, for scripts (`checkout --hold` has its own for the licence: HOLD_EXIT). */
export const EXIT = {
  OK: 0,
  /** a refusal: invalid licence, denied checkout, not ready */
  REFUSED: 1,
  /** wrong usage */
  USAGE: 2,
  /** no server answered */
  UNAVAILABLE: 3,
} as const;

export type Io = { out: (s: string) => void; err: (s: string) => void };
export const defaultIo: Io = {
  out: (s) => process.stdout.write(`${s}\n`),
  err: (s) => process.stderr.write(`${s}\n`),
};

/** Thrown by commands to end with an exit code (lspctl.ts maps it to process.exitCode). */
export class CliExit extends Error {
  override name = 'CliExit';
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}
