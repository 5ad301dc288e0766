// The value of the lpo.dev/promote-accepting-data-loss annotation (ANNOTATION_PROMOTE_ACCEPTING_DATA_LOSS):
// `<member>@<status.servingAlone.since>`, optionally `#<request id>`. Naming the episode ties the
// request to the outage it was written for; the id tells two requests of one episode apart (a
// handled value is inert). Written by lspctl, read by the operator's decision.
import type { Member } from './pair.ts';

export interface DataLossRequest {
  member: Member;
  /** the episode it is about: `status.servingAlone.since`, ms */
  since: number;
  id?: string;
}

const REQUEST = /^(primary|redundant)@([^#\s]+)(?:#(.*))?$/;

export function parseDataLossRequest(value: string): DataLossRequest | undefined {
  const m = REQUEST.exec(value.trim());
  if (!m) return undefined;
  const since = Date.parse(m[2]!);
  if (Number.isNaN(since)) return undefined;
  return { member: m[1] as Member, since, ...(m[3] !== undefined ? { id: m[3] } : {}) };
}

/** The value asking to promote `member` in the episode `since` (status.servingAlone.since, as written). */
export function dataLossRequestValue(member: Member, since: string, id?: string): string {
  return `${member}@${since}${id !== undefined ? `#${id}` : ''}`;
}
