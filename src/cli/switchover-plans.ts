// What `pair switchover` and `pair failback` will do, decided from the pair object alone: refuse,
// nothing, or a merge patch and the member to wait for. Pure; the commands carry the plan out
// (src/cli/switchover-commands.ts).
import { ANNOTATION_SWITCHOVER_REQUEST, otherMember } from '../api/pair.ts';
import type { Member } from '../api/pair.ts';
import { conditionInOneLine, formatReplication, memberHealth } from './health-format.ts';
import { findCondition } from './pair-object.ts';
import type { PairObject } from './pair-object.ts';

/** What switchover/failback will do: refuse, nothing, or a merge patch (and which member to wait for). */
export type Plan =
  | { kind: 'refuse'; message: string }
  | { kind: 'noop'; target: Member; message: string }
  | { kind: 'patch'; target: Member; patch: Record<string, unknown>; message: string; notes: string[] };

function targetProblem(pair: PairObject, target: Member): string | undefined {
  const s = pair.status;
  if (!s) return 'the operator has not reported the pair’s status yet (is it running?)';
  const ms = s.members?.[target];
  if (!ms) return `the operator has not reported ${target} yet`;
  if (ms.health !== 'Healthy') {
    const why = [ms.healthReason, ms.lastProbeMessage].filter(Boolean).join(': ');
    return `${target} is ${ms.health ?? 'Unknown'}${why ? ` (${why})` : ''}`;
  }
  return undefined;
}

function syncNotes(pair: PairObject, target: Member): string[] {
  const r = pair.status?.members?.[target]?.replication;
  if (!r || r.state === 'in-sync' || r.state === 'none') return [];
  return [`note: ${target} is ${formatReplication(r)}; the operator switches over once it is in sync`];
}

/**
 * `pair switchover NAME [--to M]`: make M (default: the member that is not live) the preferred
 * member. When spec.preferredMember already is M (for example after a failover with failback Manual)
 * the switchover-request annotation asks the operator to move now.
 */
export function planSwitchover(
  pair: PairObject,
  opts: { to?: Member; force?: boolean; requestValue: string },
): Plan {
  const live = pair.status?.liveMember || undefined;
  const target = opts.to ?? (live ? otherMember(live) : undefined);
  if (!target)
    return {
      kind: 'refuse',
      message: `${pair.metadata.name} has no live member: say --to primary|redundant`,
    };
  const preferred = pair.spec?.preferredMember ?? 'primary';
  if (live === target) {
    if (preferred === target)
      return { kind: 'noop', target, message: `${target} is already live and preferred` };
    return {
      kind: 'patch',
      target,
      patch: { spec: { preferredMember: target } },
      message: `${target} is already live; set spec.preferredMember=${target} so that it stays`,
      notes: [],
    };
  }
  if (!opts.force) {
    const problem = targetProblem(pair, target);
    if (problem) return { kind: 'refuse', message: `cannot switch over to ${target}: ${problem}` };
  }
  if (preferred !== target) {
    return {
      kind: 'patch',
      target,
      patch: { spec: { preferredMember: target } },
      message: `switchover to ${target} requested (spec.preferredMember=${target})`,
      notes: syncNotes(pair, target),
    };
  }
  return {
    kind: 'patch',
    target,
    patch: { metadata: { annotations: { [ANNOTATION_SWITCHOVER_REQUEST]: opts.requestValue } } },
    message: `switchover to ${target} requested (${ANNOTATION_SWITCHOVER_REQUEST}=${opts.requestValue}; spec.preferredMember already is ${target})`,
    notes: syncNotes(pair, target),
  };
}

/** `pair failback NAME`: ask the operator to return to spec.preferredMember now (the annotation). */
export function planFailback(pair: PairObject, opts: { force?: boolean; requestValue: string }): Plan {
  const target = pair.spec?.preferredMember ?? 'primary';
  if (pair.status?.liveMember === target) {
    return { kind: 'noop', target, message: `${target} (the preferred member) is already live` };
  }
  if (!opts.force) {
    const problem = targetProblem(pair, target);
    if (problem) return { kind: 'refuse', message: `cannot fail back to ${target}: ${problem}` };
  }
  return {
    kind: 'patch',
    target,
    patch: { metadata: { annotations: { [ANNOTATION_SWITCHOVER_REQUEST]: opts.requestValue } } },
    message: `failback to ${target} requested (${ANNOTATION_SWITCHOVER_REQUEST}=${opts.requestValue})`,
    notes: syncNotes(pair, target),
  };
}

/** Why a wait for `target` is not over yet: the live member, the target's health, Ready/Degraded. */
export function waitingFor(pair: PairObject, target: Member): string {
  const s = pair.status;
  const parts = [
    `live is ${s?.liveMember || '<none>'}`,
    `${target} is ${memberHealth(s?.members?.[target])}`,
  ];
  const r = s?.members?.[target]?.replication;
  if (r) parts.push(`replication ${formatReplication(r)}`);
  for (const type of ['Ready', 'Degraded']) {
    const c = findCondition(pair, type);
    if (c) parts.push(conditionInOneLine(c));
  }
  return parts.join('; ');
}
