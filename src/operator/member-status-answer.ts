// A member's status answer (docs/server-contract.md) as the operator's decisions may use it: it is
// another process's JSON, so each field is checked and a malformed one is left out (taken as
// unknown) rather than failing the whole answer.
import type { MemberStatus } from './member-wire.ts';
import type { LicenceReport } from './observation.ts';

export function parseStatus(text: string, field?: 'status'): MemberStatus | undefined {
  try {
    const parsed = JSON.parse(text) as Record<string, unknown>;
    const body = (field ? parsed[field] : parsed) as
      | {
          role?: string;
          epoch?: number;
          replication?: {
            state?: string;
            lagEntries?: number;
            lagSeconds?: number;
            peerLastSeenSeconds?: number | null;
          };
          serving?: ServingJsonish;
          license?: unknown;
        }
      | undefined;
    if (!body) return undefined;
    if (body.role !== 'active' && body.role !== 'standby') return undefined;
    const state = body.replication?.state;
    return {
      role: body.role,
      epoch: typeof body.epoch === 'number' ? body.epoch : 0,
      replication:
        state === 'in-sync' || state === 'catching-up' || state === 'disconnected' ? state : 'none',
      ...(typeof body.replication?.lagEntries === 'number'
        ? { lagEntries: body.replication.lagEntries }
        : {}),
      ...(typeof body.replication?.lagSeconds === 'number'
        ? { lagSeconds: body.replication.lagSeconds }
        : {}),
      ...(typeof body.replication?.peerLastSeenSeconds === 'number'
        ? { peerLastSeenSeconds: body.replication.peerLastSeenSeconds }
        : {}),
      ...servingOf(body.serving),
      ...licenceOf(body.license),
    };
  } catch {
    return undefined;
  }
}

const LICENCE_STATES = ['valid', 'invalid', 'expired', 'missing'] as const;

/** The `license` block of a status answer; a malformed one is left out (taken as unknown). */
export function licenceOf(raw: unknown): Pick<MemberStatus, 'licence'> {
  if (typeof raw !== 'object' || raw === null) return {};
  const l = raw as Record<string, unknown>;
  const state = LICENCE_STATES.find((s) => s === l['state']);
  if (state === undefined) return {};
  const str = (k: string) => (typeof l[k] === 'string' ? (l[k] as string) : undefined);
  const time = (v: unknown) =>
    typeof v === 'string' && Number.isFinite(Date.parse(v)) ? Date.parse(v) : undefined;
  const first = l['firstExpiry'] as { feature?: unknown; expires?: unknown } | undefined;
  const firstAt = time(first?.expires);
  const expiresAt = time(l['expires']);
  const report: LicenceReport = { state, message: (str('message') ?? '').slice(0, 1000) };
  for (const k of ['code', 'lastError', 'lastErrorCode'] as const) {
    const v = str(k);
    if (v !== undefined) report[k] = v.slice(0, 1000);
  }
  if (expiresAt !== undefined) report.expiresAt = expiresAt;
  if (firstAt !== undefined && typeof first?.feature === 'string')
    report.firstExpiry = { feature: first.feature.slice(0, 200), at: firstAt };
  return { licence: report };
}

const RIGHTS = ['unpaired', 'peer', 'alone', 'none', 'standby'] as const;

type ServingJsonish = {
  right?: string;
  withoutPeerSeconds?: number | null;
  anchor?: number;
  ackedSeq?: number | null;
  aloneSeq?: number | null;
};

function servingOf(s: ServingJsonish | undefined): Pick<MemberStatus, 'serving' | 'anchor'> {
  const right = RIGHTS.find((r) => r === s?.right);
  if (!s || right === undefined) return {};
  const num = (k: 'withoutPeerSeconds' | 'ackedSeq' | 'aloneSeq') =>
    typeof s[k] === 'number' ? { [k]: s[k] } : {};
  return {
    serving: { right, ...num('withoutPeerSeconds'), ...num('ackedSeq'), ...num('aloneSeq') },
    ...(typeof s.anchor === 'number' ? { anchor: s.anchor } : {}),
  };
}
