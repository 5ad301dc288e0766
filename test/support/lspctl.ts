import '../../src/cli/pair-commands.ts';
import { CliExit } from '../../src/cli/command-io.ts';
import { buildProgram } from '../../src/cli/program.ts';

/** Run `lspctl …` in-process through the exported program (the cluster from KUBECONFIG); its exit code and output. */
export async function lspctl(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const program = buildProgram({ out: (s) => out.push(s), err: (s) => err.push(s) });
  program.exitOverride();
  let code = 0;
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (e) {
    if (!(e instanceof CliExit)) throw e;
    code = e.code;
    err.push(e.message);
  }
  return { code, out: out.join('\n'), err: err.join('\n') };
}
