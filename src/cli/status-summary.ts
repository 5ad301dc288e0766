// What `pair status NAME` prints: a summary for people, or the object itself (-o json|yaml).
import YAML from 'yaml';
import {
  ANNOTATION_PROMOTE_ACCEPTING_DATA_LOSS,
  ANNOTATION_SWITCHOVER_REQUEST,
  MEMBERS,
  otherMember,
} from '../api/pair.ts';
import type { Member } from '../api/pair.ts';
import { formatSeconds, when } from './durations.ts';
import { conditionsTable, formatReplication, memberHealth } from './health-format.ts';
import { eventsTable } from './pair-events.ts';
import type { PairEvent, PairObject } from './pair-object.ts';
import { formatChecks, formatProbeSource } from './probe-format.ts';
import type { PairProbes } from './probe-metrics.ts';

function formatMember(member: Member, pair: PairObject, now: number, probes?: PairProbes): string[] {
  const s = pair.status;
  const ms = s?.members?.[member];
  const tags: string[] = [];
  if (s?.liveMember === member) tags.push('live');
  else if (s?.liveMember) tags.push('standby');
  if ((pair.spec?.preferredMember ?? 'primary') === member) tags.push('preferred');
  const lines = [`  ${member}${tags.length ? ` (${tags.join(', ')})` : ''}`];
  if (!ms) return [...lines, '    not reported yet'];
  const pod = ms.podName
    ? `${ms.podName}${ms.nodeName ? ` on ${ms.nodeName}` : ''}${ms.podIP ? ` (${ms.podIP})` : ''}` +
      (ms.ready === undefined ? '' : ms.ready ? ', ready' : ', not ready')
    : '<none>';
  lines.push(`    Pod:          ${pod}`);
  lines.push(`    Health:       ${memberHealth(ms)}`);
  if (ms.role || ms.epoch !== undefined) {
    lines.push(
      `    Role:         ${ms.role ?? 'unknown'}${ms.epoch === undefined ? '' : `, epoch ${ms.epoch}`}`,
    );
  }
  const times = probes?.kind === 'read' ? (probes.times[member] ?? {}) : undefined;
  lines.push(`    Checks:       ${formatChecks(ms, pair, now, times)}`);
  lines.push(`    Replication:  ${formatReplication(ms.replication)}`);
  return lines;
}

/**
 * Which member may acknowledge lease changes, on what right, and for how long
 * (docs/reliability.md, "Serving rights").
 */
function formatServing(pair: PairObject, now: number): string {
  const s = pair.status;
  const alone = s?.servingAlone;
  if (alone) {
    return (
      `the ${alone.member} member alone, since ${when(alone.since, now)}, on the operator's grants ` +
      `(renewed every second, each outlasting several missed renewals and a leader change); the ${otherMember(alone.member)} member is not ` +
      'promoted until it has resynced'
    );
  }
  if (!s?.liveMember) return 'no member';
  return `the ${s.liveMember} member, while its standby acknowledges each change (each acknowledgement good for 1s)`;
}

/** The lpo.dev/promote-accepting-data-loss request: pending, or what the operator made of the last one. */
function formatDataLossRequest(pair: PairObject, now: number): string | undefined {
  const value = pair.metadata.annotations?.[ANNOTATION_PROMOTE_ACCEPTING_DATA_LOSS];
  const r = pair.status?.dataLossPromotion;
  if (value !== undefined && value !== r?.request) return `${value} (pending)`;
  if (!r) return undefined;
  const outcome =
    r.outcome === 'Promoted'
      ? `promoted ${r.member} (epoch ${r.epoch}), giving up what ${r.servedAlone?.member} acknowledged alone since ${r.servedAlone?.since}`
      : `refused (${r.reason}): ${r.message}`;
  return `${r.request}, ${when(r.time, now)}: ${outcome}`;
}

function formatLastFailover(pair: PairObject, now: number): string {
  const lf = pair.status?.lastFailover;
  if (!lf) return 'never';
  const detail = [
    `${lf.from || '<none>'} → ${lf.to || '<none>'}`,
    ...(lf.action ? [lf.action] : []),
    `reason ${lf.reason}`,
    ...(lf.detectionSeconds === undefined ? [] : [`detected in ${formatSeconds(lf.detectionSeconds)}`]),
  ];
  return `${when(lf.time, now)}: ${detail.join(', ')}`;
}

/**
 * `lspctl pair status NAME`: a summary for people. `probes` are the operator's last-check times
 * (or why they could not be read); without them the Checks lines come from the status alone.
 */
export function formatPairSummary(
  pair: PairObject,
  events: PairEvent[],
  now: number,
  probes?: PairProbes,
): string {
  const s = pair.status;
  const specPreferred = pair.spec?.preferredMember ?? 'primary';
  const lines: string[] = [];
  const field = (k: string, v: string): number => lines.push(`${`${k}:`.padEnd(16)}${v}`);
  field('Name', pair.metadata.name);
  field('Namespace', pair.metadata.namespace ?? '');
  if (!s) {
    field('Status', 'not reported yet (is the operator running?)');
  } else {
    const live = s.liveMember ? s.liveMember : '<none> (no member serves)';
    field('Live member', s.liveSince && s.liveMember ? `${live}, since ${when(s.liveSince, now)}` : live);
    field('Phase', s.phase ?? '');
    field('Epoch', s.epoch === undefined ? '' : String(s.epoch));
    field('May grant', formatServing(pair, now));
  }
  let preferred = specPreferred;
  if (s?.preferredMember && s.preferredMember !== specPreferred) {
    preferred += ` (switchover pending: the operator still acts on ${s.preferredMember})`;
  }
  field('Preferred', preferred);
  const request = pair.metadata.annotations?.[ANNOTATION_SWITCHOVER_REQUEST];
  if (request) {
    field(
      'Switchover req',
      request === s?.lastSwitchoverRequest ? `${request} (handled)` : `${request} (pending)`,
    );
  }
  const lossRequest = formatDataLossRequest(pair, now);
  if (lossRequest) field('Data-loss req', lossRequest);
  const fo = pair.spec?.failover;
  if (fo) {
    field(
      'Failover',
      `${fo.enabled === false ? 'disabled (report only)' : 'automatic'}, failback ${fo.failback ?? 'Automatic'}`,
    );
  }
  if (s) {
    if (probes) field('Probe times', formatProbeSource(probes));
    lines.push('', 'Members:');
    for (const m of MEMBERS) lines.push(...formatMember(m, pair, now, probes));
    lines.push('');
    field('Last failover', formatLastFailover(pair, now));
    field('Failovers', String(s.failoverCount ?? 0));
  }
  lines.push('', 'Conditions:', ...conditionsTable(s?.conditions ?? [], now));
  lines.push('', 'Events:', ...eventsTable(events, now));
  return lines.join('\n');
}

/** The object for `-o json|yaml` (without managedFields, like kubectl). */
export function formatPairDocument(pair: PairObject, format: 'json' | 'yaml'): string {
  const { managedFields: _m, ...metadata } = pair.metadata;
  const doc = { ...pair, metadata };
  return format === 'json' ? JSON.stringify(doc, null, 2) : YAML.stringify(doc).trimEnd();
}
