// What `pair promote NAME --accept-data-loss` will do, decided from the pair object alone: refuse,
// or the annotation to write with what it gives up, said in words before anyone confirms. Pure;
// the command asks, patches and waits (src/cli/promote-command.ts). The operator judges the
// request again (src/operator/data-loss-promotion.ts): these checks only spare a request that
// would be refused.
import { dataLossRequestValue, parseDataLossRequest } from '../api/data-loss-request.ts';
import { ANNOTATION_PROMOTE_ACCEPTING_DATA_LOSS, otherMember } from '../api/pair.ts';
import type { Member } from '../api/pair.ts';
import { humanDuration } from './durations.ts';
import { memberHealth, notReadyReason } from './health-format.ts';
import type { PairObject } from './pair-object.ts';

export type PromotePlan =
  | { kind: 'refuse'; message: string }
  | {
      kind: 'patch';
      target: Member;
      /** the annotation's value */
      value: string;
      patch: Record<string, unknown>;
      /** what is given up and what happens next, to read before confirming */
      loss: string[];
      notes: string[];
    };

/**
 * `pair promote NAME --accept-data-loss [--to M]`: promote the member that status.servingAlone
 * marks as not promotable. `requestId` tells this request from an earlier one of the episode.
 */
export function planDataLossPromotion(
  pair: PairObject,
  opts: { to?: Member; requestId: string; now: number },
): PromotePlan {
  const name = pair.metadata.name;
  const s = pair.status;
  if (!s)
    return {
      kind: 'refuse',
      message: 'the operator has not reported the pair’s status yet (is it running?)',
    };
  const alone = s.servingAlone;
  if (!alone)
    return {
      kind: 'refuse',
      message: `no member of ${name} is marked not promotable (status.servingAlone is not set): there is nothing to override; a serving pair moves with \`pair switchover\``,
    };
  const lost = alone.member;
  const target = otherMember(lost);
  if (opts.to !== undefined && opts.to !== target)
    return {
      kind: 'refuse',
      message: `--to ${opts.to} names the member that served alone (it has every lease); the member not promotable is ${target}`,
    };
  if (s.liveMember)
    return {
      kind: 'refuse',
      message:
        s.liveMember === lost
          ? `the ${lost} member, which served alone, is live: the pair is served (or its failure is not acted on yet); this is only for a pair no member serves`
          : `the ${target} member is already live`,
    };
  if (s.members?.[lost]?.health === 'Healthy')
    return {
      kind: 'refuse',
      message: `the ${lost} member, which has every lease, is healthy: the operator serves it again without losing anything`,
    };
  const since = alone.since;
  const ago = humanDuration(opts.now - Date.parse(since));
  const value = dataLossRequestValue(target, since, opts.requestId);
  const notes: string[] = [];
  if (s.members?.[target]?.health !== 'Healthy')
    notes.push(
      `note: ${target} is ${memberHealth(s.members?.[target])}: the operator promotes it once it is healthy`,
    );
  const earlier = pair.metadata.annotations?.[ANNOTATION_PROMOTE_ACCEPTING_DATA_LOSS];
  const earlierRequest = earlier === undefined ? undefined : parseDataLossRequest(earlier);
  if (
    earlier !== undefined &&
    earlier !== s.dataLossPromotion?.request &&
    earlierRequest?.since === Date.parse(since)
  )
    notes.push(`note: an earlier request of this episode is pending (${earlier}); this one replaces it`);
  const reason = notReadyReason(pair);
  return {
    kind: 'patch',
    target,
    value,
    patch: { metadata: { annotations: { [ANNOTATION_PROMOTE_ACCEPTING_DATA_LOSS]: value } } },
    loss: [
      `${name}: no member serves${reason ? ` (${reason})` : ''}.`,
      `The ${lost} member served alone from ${since} (${ago} ago, epoch ${alone.epoch}) and is ${memberHealth(s.members?.[lost])}.`,
      `Promoting the ${target} member gives up every lease change the ${lost} member acknowledged alone since ${since}:`,
      `  - checkouts made since then: ${target} does not have them; their clients get LEASE_NOT_FOUND at their next renewal and must check out again (their seat may be taken by then)`,
      `  - releases and revocations made since then: undone; those seats count as in use until the leases expire`,
      `  - renewals made since then: undone; those leases may expire sooner than their clients were told`,
      `If the ${lost} member comes back, it resyncs from ${target} and drops those changes.`,
      `The operator promotes ${target} once no grant to serve alone it sent ${lost} can still be valid by its clock (with the drift margin), and ${target} is healthy.`,
    ],
    notes,
  };
}

/** What the operator made of request `value`, once it has handled it. */
export function promoteOutcome(
  pair: PairObject,
  value: string,
): { done: true; ok: boolean; message: string } | { done: false } {
  const r = pair.status?.dataLossPromotion;
  if (r?.request !== value) return { done: false };
  if (r.outcome === 'Promoted')
    return {
      done: true,
      ok: true,
      message: `${r.member} is live (epoch ${r.epoch}), promoted accepting the loss of what ${r.servedAlone?.member} acknowledged alone since ${r.servedAlone?.since}`,
    };
  return { done: true, ok: false, message: `the operator refused the request (${r.reason}): ${r.message}` };
}
