// The options that say where the operator runs, and reading its probe times for `pair status` and
// `pair list -o wide`. A read that fails is no failure of the command: it says why and the
// commands fall back to what the status records.
import { Option } from 'commander';
import type { Command } from 'commander';
import { DEFAULT_OPERATOR_SELECTOR } from './operator-scrape.ts';
import type { PairApi } from './pair-api.ts';
import { indexProbeTimes } from './probe-metrics.ts';
import type { OperatorReading } from './probe-metrics.ts';

/** Long enough for a busy operator's /metrics, short enough not to hold up a command people wait for. */
export const OPERATOR_READ_TIMEOUT_MS = 3000;

export interface OperatorOptions {
  operatorNamespace?: string;
  operatorSelector: string;
  /** false with --no-operator-metrics */
  operatorMetrics: boolean;
}

export function addOperatorOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--operator-namespace <namespace>',
        'where the operator runs, to read its probe times (default: find its pods in every namespace)',
      ).env('LSPCTL_OPERATOR_NAMESPACE'),
    )
    .addOption(
      new Option('--operator-selector <labels>', "label selector of the operator's pods").default(
        DEFAULT_OPERATOR_SELECTOR,
      ),
    )
    .option('--no-operator-metrics', "do not read the probe times from the operator's metrics");
}

/** The operator's probe times, or why they cannot be read. Never throws. */
export async function readOperator(api: PairApi, opts: OperatorOptions): Promise<OperatorReading> {
  if (!opts.operatorMetrics) return { kind: 'unavailable', reason: 'not read: --no-operator-metrics' };
  try {
    const { texts, failures } = await api.scrapeOperator({
      namespace: opts.operatorNamespace,
      selector: opts.operatorSelector,
      timeoutMs: OPERATOR_READ_TIMEOUT_MS,
    });
    if (texts.length === 0) {
      return { kind: 'unavailable', reason: `cannot read the operator's metrics: ${failures.join('; ')}` };
    }
    return { kind: 'read', index: indexProbeTimes(texts), scraped: texts.map((t) => t.pod), failures };
  } catch (err) {
    return { kind: 'unavailable', reason: (err as Error).message };
  }
}
