// The one way past R5 (docs/reliability.md, "Promoting a member that is not promotable, accepting
// data loss"): a person accepts the loss of what the member that served alone acknowledged alone,
// and asks for the other member to be promoted. Pure: the request is the annotation's value, every
// time an argument; decide() (failover.ts) turns a `promote` verdict into a move, and the shell
// records the outcome in status so that a value is carried out or refused once.
//
// Why it cannot make two members grant: the member that served alone may hold two rights. Its
// solo grants (R3) are waited out here with the same bound the end of an episode uses
// (`grantsBindUntil`: the operator's clock, drift and margin included, and a predecessor's grants
// counted from when this process started); its peer right (R2) ends before the standby's last
// promise (R1), which the promoted member itself waits out before it becomes active (R5, on the
// member). The request only lifts the mark; it shortens no wait.
import { parseDataLossRequest } from '../api/data-loss-request.ts';
import { otherMember } from '../api/pair.ts';
import type { Member } from '../api/pair.ts';
import type { LiveMember } from './observation.ts';
import type { ServingAlone } from './serving.ts';

export { dataLossRequestValue, parseDataLossRequest } from '../api/data-loss-request.ts';
export type { DataLossRequest } from '../api/data-loss-request.ts';

/** Refused for good: the value is recorded as handled, a new request needs a new value. */
export type DataLossRefusal =
  'Malformed' | 'NoEpisode' | 'StaleEpisode' | 'WrongMember' | 'PairServed' | 'ServedAloneMemberBack';
/** Not yet: the request stays pending and is judged again. */
export type DataLossWait = 'GrantMayBeValid' | 'MemberNotHealthy';

export type DataLossVerdict =
  | { kind: 'promote'; member: Member; lost: ServingAlone; message: string }
  | { kind: 'wait'; cause: DataLossWait; member: Member; message: string; until?: number }
  | { kind: 'refuse'; cause: DataLossRefusal; message: string };

export interface DataLossInput {
  /** the annotation's value, not handled before */
  request: string;
  /** status.servingAlone */
  alone?: ServingAlone;
  /** status.liveMember */
  live: LiveMember;
  /** the member that served alone could be served again (healthy, not catching up): it has every lease */
  aloneMemberEligible: boolean;
  /** the member to promote, as the failover decision sees it before the mark */
  candidate: { eligible: boolean; message: string };
  /** until when a solo grant sent to the pair may still be valid, operator clock */
  grantsBindUntil: number;
  now: number;
}

const iso = (t: number) => new Date(t).toISOString();

/**
 * The verdict on a request. Checked top to bottom; the first that applies wins.
 *
 *  1. not `<member>@<time>[#id]` → refuse (Malformed)
 *  2. no member is marked not promotable → refuse (NoEpisode)
 *  3. `since` is not the current episode's → refuse (StaleEpisode): a value left from an earlier
 *     episode never fires
 *  4. it names the member that served alone → refuse (WrongMember)
 *  5. a member is live (the one that served alone, not yet fenced, or already the other) →
 *     refuse (PairServed): a request written while the pair was served is no decision about an
 *     outage, and must not fire at a later one of the same episode
 *  6. the member that served alone can be served again → refuse (ServedAloneMemberBack): it is
 *     promoted instead (row 1), losing nothing
 *  7. the member to promote is not healthy, or is catching up → wait (MemberNotHealthy)
 *  8. a grant to the member that served alone may still be valid → wait until it is not
 *     (GrantMayBeValid)
 *  9. otherwise → promote it (the move of row 2a)
 */
export function judgeDataLossPromotion(i: DataLossInput): DataLossVerdict {
  const r = parseDataLossRequest(i.request);
  if (!r)
    return {
      kind: 'refuse',
      cause: 'Malformed',
      message: `"${i.request}" is not <member>@<status.servingAlone.since>[#<request id>]`,
    };
  const alone = i.alone;
  if (!alone)
    return {
      kind: 'refuse',
      cause: 'NoEpisode',
      message:
        'no member is marked not promotable (status.servingAlone is not set): there is nothing to override',
    };
  if (r.since !== alone.since)
    return {
      kind: 'refuse',
      cause: 'StaleEpisode',
      message: `it names the episode since ${iso(r.since)}; the ${alone.member} member has served alone since ${iso(alone.since)}`,
    };
  const target = otherMember(alone.member);
  if (r.member !== target)
    return {
      kind: 'refuse',
      cause: 'WrongMember',
      message: `it names the ${r.member} member, which served alone and has every lease; the member not promotable is the ${target} member`,
    };
  if (i.live !== '')
    return {
      kind: 'refuse',
      cause: 'PairServed',
      message:
        i.live === alone.member
          ? `the ${alone.member} member is live (not fenced): the override applies only once no member serves`
          : `the ${target} member is already live`,
    };
  if (i.aloneMemberEligible)
    return {
      kind: 'refuse',
      cause: 'ServedAloneMemberBack',
      message: `the ${alone.member} member, which has every lease, is healthy again and is served instead: nothing is lost`,
    };
  if (!i.candidate.eligible)
    return {
      kind: 'wait',
      cause: 'MemberNotHealthy',
      member: target,
      message: `waiting for the ${target} member to be healthy (${i.candidate.message})`,
    };
  if (i.now < i.grantsBindUntil)
    return {
      kind: 'wait',
      cause: 'GrantMayBeValid',
      member: target,
      message: `the ${alone.member} member may hold a grant to serve alone until ${iso(i.grantsBindUntil)}; promoting the ${target} member then`,
      until: i.grantsBindUntil,
    };
  return {
    kind: 'promote',
    member: target,
    lost: alone,
    message: `promoting the ${target} member, accepting the loss of what the ${alone.member} member acknowledged alone since ${iso(alone.since)} (epoch ${alone.epoch})`,
  };
}
