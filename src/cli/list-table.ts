// What `pair list` prints: the columns of `kubectl get lsp`, plus why a pair is not Ready.
import { MEMBERS } from '../api/pair.ts';
import { age } from './durations.ts';
import { notReadyReason } from './health-format.ts';
import { probePeriodSeconds } from './pair-object.ts';
import type { PairObject } from './pair-object.ts';
import { formatNewestProbe } from './probe-format.ts';
import type { PairProbes } from './probe-metrics.ts';
import { renderTable } from './table.ts';

export interface PairTableOptions {
  allNamespaces?: boolean;
  now: number;
  /** `-o wide`: each member's newest check, from the operator's probe times of the pair */
  probesOf?: (pair: PairObject) => PairProbes;
}

function probeColumns(pair: PairObject, probes: PairProbes, now: number): string[] {
  return MEMBERS.map((m) =>
    probes.kind === 'read' ? formatNewestProbe(probes.times[m], probePeriodSeconds(pair), now) : '<unknown>',
  );
}

/** `lspctl pair list`: the columns of `kubectl get lsp` plus REASON when not Ready. */
export function formatPairTable(pairs: PairObject[], opts: PairTableOptions): string {
  const { probesOf } = opts;
  const header = [
    'NAME',
    'LIVE',
    'PRIMARY',
    'REDUNDANT',
    'PHASE',
    'FAILOVERS',
    'AGE',
    ...(probesOf ? ['PRIMARY CHECK', 'REDUNDANT CHECK'] : []),
    'REASON',
  ];
  const rows = pairs.map((p) => {
    const s = p.status;
    return [
      ...(opts.allNamespaces ? [p.metadata.namespace ?? ''] : []),
      p.metadata.name,
      s?.liveMember ?? '',
      s?.members?.primary?.health ?? '',
      s?.members?.redundant?.health ?? '',
      s?.phase ?? '',
      s?.failoverCount === undefined ? '' : String(s.failoverCount),
      age(p.metadata.creationTimestamp, opts.now),
      ...(probesOf ? probeColumns(p, probesOf(p), opts.now) : []),
      notReadyReason(p),
    ];
  });
  return renderTable([[...(opts.allNamespaces ? ['NAMESPACE'] : []), ...header], ...rows]);
}
