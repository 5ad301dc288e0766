// `lspctl pair list|status|switchover|failback` (and `kubectl lsp …`, src/cli/kubectl-lsp.ts): the
// people-facing commands for LicenseServerPairs, through the Kubernetes API.
//
// The formatting and the decisions (which member, refuse or patch) are pure functions of a pair
// object (unit-tested in test/unit/cli/); the commands only read, patch and wait.
import * as k8s from '@kubernetes/client-node';
import { Command, InvalidArgumentError, Option } from 'commander';
import YAML from 'yaml';
import {
  ANNOTATION_SWITCHOVER_REQUEST,
  GROUP,
  KIND,
  MEMBERS,
  PLURAL,
  VERSION,
  otherMember,
} from '../api/pair.ts';
import type { Condition, Member, MemberStatus, PairStatus } from '../api/pair.ts';
import { shareConnections } from '../kube/connections.ts';
import { CliExit, EXIT, registerCommands } from './program.ts';
import type { Io } from './program.ts';

// ---------------------------------------------------------------------------------------------
// types

/** A LicenseServerPair as read from the API server (not validated: every field may be missing). */
export interface PairObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    creationTimestamp?: string | Date;
    generation?: number;
    resourceVersion?: string;
    annotations?: Record<string, string>;
    [key: string]: unknown;
  };
  spec?: {
    preferredMember?: Member;
    failover?: { enabled?: boolean; failback?: string };
    healthCheck?: { periodSeconds?: number; timeoutSeconds?: number };
    [key: string]: unknown;
  };
  status?: PairStatus;
}

/** A core/v1 Event about a pair, reduced to what the summary shows. */
export interface PairEvent {
  type: string;
  reason: string;
  message: string;
  count: number;
  /** ISO time of the last occurrence */
  time?: string;
}

// ---------------------------------------------------------------------------------------------
// pure formatting

/** kubectl's age format (apimachinery duration.HumanDuration). */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 365 * 8) {
    const d = days % 365;
    return d === 0 ? `${Math.floor(days / 365)}y` : `${Math.floor(days / 365)}y${d}d`;
  }
  return `${Math.floor(days / 365)}y`;
}

/** Age of a timestamp in kubectl's format, or '' when there is none. */
export function age(ts: string | Date | undefined, now: number): string {
  if (ts === undefined || ts === '') return '';
  const t = ts instanceof Date ? ts.getTime() : Date.parse(ts);
  return Number.isNaN(t) ? '' : humanDuration(now - t);
}

/** Columns separated by three spaces (like kubectl's tabwriter); the last column is not padded. */
export function renderTable(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd((widths[i] ?? 0) + 3)))
        .join('')
        .trimEnd(),
    )
    .join('\n');
}

function findCondition(pair: PairObject, type: string): Condition | undefined {
  return pair.status?.conditions?.find((c) => c.type === type);
}

/** Why a pair is not Ready ('' when it is): the Ready condition's reason and message. */
export function notReadyReason(pair: PairObject): string {
  if (!pair.status) return 'NoStatus: the operator has not reported on this pair yet';
  const ready = findCondition(pair, 'Ready');
  if (!ready) return 'NoReadyCondition: the operator has not set the Ready condition yet';
  if (ready.status === 'True') return '';
  return ready.message ? `${ready.reason}: ${ready.message}` : ready.reason;
}

/** `lspctl pair list`: the columns of `kubectl get lsp` plus REASON when not Ready. */
export function formatPairTable(pairs: PairObject[], opts: { allNamespaces?: boolean; now: number }): string {
  const header = ['NAME', 'LIVE', 'PRIMARY', 'REDUNDANT', 'PHASE', 'FAILOVERS', 'AGE', 'REASON'];
  const rows = pairs.map((p) => {
    const s = p.status;
    return [
      p.metadata.name,
      s?.liveMember ?? '',
      s?.members?.primary?.health ?? '',
      s?.members?.redundant?.health ?? '',
      s?.phase ?? '',
      s?.failoverCount === undefined ? '' : String(s.failoverCount),
      age(p.metadata.creationTimestamp, opts.now),
      notReadyReason(p),
    ];
  });
  if (opts.allNamespaces) {
    return renderTable([
      ['NAMESPACE', ...header],
      ...rows.map((r, i) => [pairs[i]!.metadata.namespace ?? '', ...r]),
    ]);
  }
  return renderTable([header, ...rows]);
}

/** `Healthy`, or `Unhealthy (ProbeFailed)`; `Unknown` when the operator has not reported the member. */
export function memberHealth(ms: MemberStatus | undefined): string {
  if (!ms?.health) return 'Unknown';
  return ms.health !== 'Healthy' && ms.healthReason ? `${ms.health} (${ms.healthReason})` : ms.health;
}

function formatSeconds(s: number): string {
  return `${Number(s.toFixed(s < 10 ? 2 : 1))}s`;
}

function formatReplication(r: MemberStatus['replication']): string {
  if (!r) return 'unknown';
  const lag: string[] = [];
  if (r.lagEntries !== undefined) lag.push(`${r.lagEntries} entries`);
  if (r.lagSeconds !== undefined) lag.push(formatSeconds(r.lagSeconds));
  return lag.length ? `${r.state}, lag ${lag.join(' / ')}` : r.state;
}

function when(ts: string | undefined, now: number): string {
  if (!ts) return 'never';
  const a = age(ts, now);
  return a ? `${ts} (${a} ago)` : ts;
}

function formatMember(member: Member, pair: PairObject, now: number): string[] {
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
  lines.push(`    Checks:       ${formatChecks(ms, pair, now)}`);
  lines.push(`    Replication:  ${formatReplication(ms.replication)}`);
  return lines;
}

/**
 * The operator's health checks of a member: how often they run, and since when their result has
 * been what it is. The status records a result when it changes (a write per check would not hold
 * at a thousand pairs), so the time is that of the change, never shown as "the last check".
 */
export function formatChecks(ms: MemberStatus, pair: PairObject, now: number): string {
  const period = pair.spec?.healthCheck?.periodSeconds ?? 2;
  if (!ms.lastProbeResult) return `every ${period} s; no result yet`;
  let out = `every ${period} s; ${ms.lastProbeResult} since ${when(ms.lastProbeTime, now)}`;
  if (ms.lastProbeMessage) out += `: ${ms.lastProbeMessage}`;
  if (ms.consecutiveFailures) out += ` (${ms.consecutiveFailures} failures in a row)`;
  return out;
}

/**
 * Which member may acknowledge lease changes, on what right, and for how long
 * (docs/reliability.md, "Serving rights").
 */
function formatServing(pair: PairObject, now: number): string {
  const s = pair.status;
  const alone = s?.servingAlone;
  if (alone) {
    const standby = alone.member === 'primary' ? 'redundant' : 'primary';
    return (
      `the ${alone.member} member alone, since ${when(alone.since, now)}, on the operator's grants ` +
      `(renewed every second, each outlasting several missed renewals and a leader change); the ${standby} member is not ` +
      'promoted until it has resynced'
    );
  }
  if (!s?.liveMember) return 'no member';
  return `the ${s.liveMember} member, while its standby acknowledges each change (each acknowledgement good for 1s)`;
}

/** `lspctl pair status NAME`: a summary for people. */
export function formatPairSummary(pair: PairObject, events: PairEvent[], now: number): string {
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
  const fo = pair.spec?.failover;
  if (fo) {
    field(
      'Failover',
      `${fo.enabled === false ? 'disabled (report only)' : 'automatic'}, failback ${fo.failback ?? 'Automatic'}`,
    );
  }
  if (s) {
    lines.push('', 'Members:');
    for (const m of MEMBERS) lines.push(...formatMember(m, pair, now));
    lines.push('');
    const lf = s.lastFailover;
    if (lf) {
      const detail = [
        `${lf.from || '<none>'} → ${lf.to || '<none>'}`,
        ...(lf.action ? [lf.action] : []),
        `reason ${lf.reason}`,
        ...(lf.detectionSeconds === undefined ? [] : [`detected in ${formatSeconds(lf.detectionSeconds)}`]),
      ];
      field('Last failover', `${when(lf.time, now)}: ${detail.join(', ')}`);
    } else {
      field('Last failover', 'never');
    }
    field('Failovers', String(s.failoverCount ?? 0));
  }
  lines.push('', 'Conditions:');
  const conditions = s?.conditions ?? [];
  if (conditions.length === 0) lines.push('  <none>');
  else {
    lines.push(
      ...renderTable([
        ['TYPE', 'STATUS', 'REASON', 'AGE', 'MESSAGE'],
        ...conditions.map((c) => [
          c.type,
          c.status,
          c.reason,
          age(c.lastTransitionTime, now),
          c.message ?? '',
        ]),
      ])
        .split('\n')
        .map((l) => `  ${l}`),
    );
  }
  lines.push('', 'Events:');
  if (events.length === 0) lines.push('  <none>');
  else {
    lines.push(
      ...renderTable([
        ['TYPE', 'REASON', 'AGE', 'COUNT', 'MESSAGE'],
        ...events.map((e) => [e.type, e.reason, age(e.time, now), String(e.count), e.message]),
      ])
        .split('\n')
        .map((l) => `  ${l}`),
    );
  }
  return lines.join('\n');
}

/** The object for `-o json|yaml` (without managedFields, like kubectl). */
export function formatPairDocument(pair: PairObject, format: 'json' | 'yaml'): string {
  const { managedFields: _m, ...metadata } = pair.metadata;
  const doc = { ...pair, metadata };
  return format === 'json' ? JSON.stringify(doc, null, 2) : YAML.stringify(doc).trimEnd();
}

function isoTime(t: Date | string | undefined | null): string | undefined {
  if (!t) return undefined;
  return t instanceof Date ? t.toISOString() : t;
}

/** Reduce a core/v1 Event (dates as Date objects or strings) to what the summary shows. */
export function toPairEvent(e: k8s.CoreV1Event): PairEvent {
  return {
    type: e.type ?? '',
    reason: e.reason ?? '',
    message: (e.message ?? '').replace(/\s+/g, ' ').trim(),
    count: e.series?.count ?? e.count ?? 1,
    time: isoTime(
      e.series?.lastObservedTime ??
        e.lastTimestamp ??
        e.eventTime ??
        e.firstTimestamp ??
        e.metadata.creationTimestamp,
    ),
  };
}

/** The most recent `limit` events, oldest first (as kubectl describe shows them). */
export function recentEvents(events: PairEvent[], limit = 10): PairEvent[] {
  const t = (e: PairEvent): number => (e.time ? Date.parse(e.time) : 0);
  return [...events].sort((a, b) => t(a) - t(b)).slice(-limit);
}

/** `60s`, `2m`, `1m30s`, `500ms`, `1h`; a bare number is seconds. */
export function parseDuration(text: string): number {
  const v = text.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(v); m; m = re.exec(v)) {
    total += Number(m[1]) * units[m[2]!]!;
    end = re.lastIndex;
  }
  if (v === '' || end !== v.length)
    throw new InvalidArgumentError('expected a duration such as 60s, 2m, 1m30s');
  return total;
}

// ---------------------------------------------------------------------------------------------
// pure decisions

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
    if (c) parts.push(`${type}=${c.status} (${c.reason}${c.message ? `: ${c.message}` : ''})`);
  }
  return parts.join('; ');
}

// ---------------------------------------------------------------------------------------------
// the Kubernetes side

/** What the commands need from the API server (a fake in unit tests). */
export interface PairApi {
  /** where the API server is, for messages */
  server: string;
  /** the namespace from -n, the context, or `default` */
  namespace: string;
  get(namespace: string, name: string): Promise<PairObject>;
  /** all namespaces when `namespace` is undefined */
  list(namespace: string | undefined): Promise<PairObject[]>;
  mergePatch(namespace: string, name: string, patch: Record<string, unknown>): Promise<PairObject>;
  events(namespace: string, name: string): Promise<PairEvent[]>;
}

export interface KubeOptions {
  namespace?: string;
  context?: string;
}

/** A PairApi on the kubeconfig that kubectl would use (KUBECONFIG, ~/.kube/config, in-cluster). */
export function connect(opts: KubeOptions): PairApi {
  const kc = new k8s.KubeConfig();
  try {
    kc.loadFromDefault();
  } catch (err) {
    throw new CliExit(EXIT.USAGE, `cannot load the kubeconfig: ${(err as Error).message}`);
  }
  shareConnections(kc);
  // Without KUBECONFIG, ~/.kube/config or a service account, client-node falls back to
  // http://localhost:8080 (as kubectl does); say so instead of a TLS complaint.
  if (
    kc.getCurrentContext() === 'loaded-context' &&
    kc.getCurrentCluster()?.server === 'http://localhost:8080'
  ) {
    throw new CliExit(
      EXIT.UNAVAILABLE,
      'no Kubernetes API server configured: set KUBECONFIG, create ~/.kube/config, or run in a pod',
    );
  }
  if (opts.context) {
    if (!kc.getContextObject(opts.context)) {
      throw new CliExit(EXIT.USAGE, `context "${opts.context}" does not exist in the kubeconfig`);
    }
    kc.setCurrentContext(opts.context);
  }
  const namespace = opts.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const server = kc.getCurrentCluster()?.server ?? '(no cluster in the kubeconfig)';
  const base = { group: GROUP, version: VERSION, plural: PLURAL };
  const call = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (err) {
      throw kubeError(err, what, server);
    }
  };
  return {
    server,
    namespace,
    get: (ns, name) =>
      call(
        `licenseserverpair "${name}" in namespace "${ns}"`,
        async () => (await custom.getNamespacedCustomObject({ ...base, namespace: ns, name })) as PairObject,
      ),
    list: (ns) =>
      call(ns ? `licenseserverpairs in namespace "${ns}"` : 'licenseserverpairs', async () => {
        const list = (
          ns
            ? await custom.listNamespacedCustomObject({ ...base, namespace: ns })
            : await custom.listClusterCustomObject(base)
        ) as { items?: PairObject[] };
        return list.items ?? [];
      }),
    mergePatch: (ns, name, patch) =>
      call(
        `licenseserverpair "${name}" in namespace "${ns}"`,
        async () =>
          (await custom.patchNamespacedCustomObject(
            { ...base, namespace: ns, name, body: patch },
            k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
          )) as PairObject,
      ),
    events: (ns, name) =>
      call(`events of licenseserverpair "${name}"`, async () => {
        const list = await core.listNamespacedEvent({
          namespace: ns,
          fieldSelector: `involvedObject.name=${name},involvedObject.kind=${KIND}`,
        });
        return list.items.map(toPairEvent);
      }),
  };
}

function apiStatusOf(body: unknown): { message?: string; reason?: string; details?: { kind?: string } } {
  if (body && typeof body === 'object') return body as { message?: string };
  if (typeof body === 'string') {
    try {
      const parsed: unknown = JSON.parse(body);
      if (parsed && typeof parsed === 'object') return parsed as { message?: string };
    } catch {
      return { message: body.trim() };
    }
  }
  return {};
}

/** Map a client-node error to an exit code and a message a person can act on. */
export function kubeError(err: unknown, what: string, server: string): CliExit {
  if (err instanceof CliExit) return err;
  if (err instanceof k8s.ApiException) {
    const st = apiStatusOf(err.body);
    if (err.code === 404) {
      if (st.reason === 'NotFound' && st.details?.kind) return new CliExit(EXIT.REFUSED, `${what} not found`);
      return new CliExit(
        EXIT.REFUSED,
        `the ${KIND} API (${GROUP}/${VERSION}) is not installed on ${server}: apply crds/lpo.dev_licenseserverpairs.yaml`,
      );
    }
    if (err.code === 401)
      return new CliExit(EXIT.REFUSED, `unauthorized on ${server}: ${st.message ?? ''}`.trim());
    if (err.code === 403) return new CliExit(EXIT.REFUSED, `forbidden: ${st.message ?? what}`);
    if (err.code >= 500) {
      return new CliExit(EXIT.UNAVAILABLE, `${server} answered ${err.code}: ${st.message ?? err.message}`);
    }
    return new CliExit(EXIT.REFUSED, `${what}: ${err.code} ${st.message ?? err.message}`);
  }
  const e = err as Error & { code?: string; cause?: { code?: string; message?: string } };
  const detail = e.cause?.message ?? e.message ?? String(err);
  return new CliExit(EXIT.UNAVAILABLE, `cannot reach the Kubernetes API server ${server}: ${detail}`);
}

// ---------------------------------------------------------------------------------------------
// the commands

export interface PairCommandDeps {
  connect: (opts: KubeOptions) => PairApi;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** how often --wait reads the pair */
  pollMs: number;
}

const defaultDeps: PairCommandDeps = {
  connect,
  now: () => Date.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  pollMs: 250,
};

const memberOption = (): Option =>
  new Option('--to <member>', 'the member to switch to (default: the one that is not live)').choices(MEMBERS);

const timeoutOption = (): Option =>
  new Option('--timeout <duration>', 'how long --wait waits (60s, 2m, …)')
    .argParser(parseDuration)
    .default(60_000, '60s');

/** Wait until status.liveMember is `target`; returns the milliseconds it took. */
async function waitForLive(
  api: PairApi,
  ns: string,
  name: string,
  target: Member,
  timeoutMs: number,
  deps: PairCommandDeps,
): Promise<{ ms: number; pair: PairObject }> {
  const start = deps.now();
  for (;;) {
    const pair = await api.get(ns, name);
    if (pair.status?.liveMember === target) return { ms: deps.now() - start, pair };
    if (deps.now() - start >= timeoutMs) {
      throw new CliExit(
        EXIT.REFUSED,
        `timed out after ${humanDuration(timeoutMs)} waiting for ${target} to become live: ${waitingFor(pair, target)}`,
      );
    }
    await deps.sleep(Math.min(deps.pollMs, Math.max(0, timeoutMs - (deps.now() - start))));
  }
}

async function applyPlan(
  plan: Plan,
  api: PairApi,
  ns: string,
  name: string,
  opts: { wait?: boolean; timeout: number },
  io: Io,
  deps: PairCommandDeps,
): Promise<void> {
  if (plan.kind === 'refuse') throw new CliExit(EXIT.REFUSED, plan.message);
  if (plan.kind === 'patch') await api.mergePatch(ns, name, plan.patch);
  io.out(`${name}: ${plan.message}`);
  if (plan.kind === 'patch') for (const n of plan.notes) io.err(n);
  if (!opts.wait || plan.kind === 'noop') return;
  const { ms, pair } = await waitForLive(api, ns, name, plan.target, opts.timeout, deps);
  const epoch = pair.status?.epoch === undefined ? '' : ` (epoch ${pair.status.epoch})`;
  io.out(`${name}: ${plan.target} is live after ${(ms / 1000).toFixed(1)}s${epoch}`);
}

/**
 * Add list/status/switchover/failback to `parent` (`lspctl pair`, or the root of `kubectl lsp`),
 * with -n/--namespace and --context on `parent`.
 */
export function addPairCommands(parent: Command, io: Io, deps: PairCommandDeps = defaultDeps): Command {
  parent
    .option('-n, --namespace <namespace>', 'namespace of the pair (default: the context’s namespace)')
    .option('--context <context>', 'kubeconfig context to use')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });

  const kube = (cmd: Command): { api: PairApi; ns: string } => {
    const g = cmd.optsWithGlobals<KubeOptions>();
    const api = deps.connect({ namespace: g.namespace, context: g.context });
    return { api, ns: api.namespace };
  };
  const requestValue = (): string => new Date(deps.now()).toISOString();

  parent
    .command('list')
    .alias('ls')
    .description('pairs with their live member, member health and phase (and why when not Ready)')
    .option('-A, --all-namespaces', 'pairs of every namespace')
    .action(async (opts: { allNamespaces?: boolean }, cmd: Command) => {
      const { api, ns } = kube(cmd);
      const pairs = await api.list(opts.allNamespaces ? undefined : ns);
      if (pairs.length === 0) {
        io.err(opts.allNamespaces ? 'No resources found' : `No resources found in ${ns} namespace.`);
        return;
      }
      io.out(formatPairTable(pairs, { allNamespaces: opts.allNamespaces, now: deps.now() }));
    });

  parent
    .command('status')
    .description('live member, phase, both members, last failover, conditions and recent events of a pair')
    .argument('<name>', 'the LicenseServerPair')
    .addOption(new Option('-o, --output <format>', 'print the object instead').choices(['json', 'yaml']))
    .action(async (name: string, opts: { output?: 'json' | 'yaml' }, cmd: Command) => {
      const { api, ns } = kube(cmd);
      const pair = await api.get(ns, name);
      if (opts.output) {
        io.out(formatPairDocument(pair, opts.output));
        return;
      }
      // Events are a nicety: a user who may read pairs but not events still gets the summary.
      let events: PairEvent[] = [];
      try {
        events = recentEvents(await api.events(ns, name));
      } catch (err) {
        io.err(`warning: cannot list events: ${(err as Error).message}`);
      }
      io.out(formatPairSummary(pair, events, deps.now()));
    });

  parent
    .command('switchover')
    .description('planned switchover: make a member the preferred one (spec.preferredMember)')
    .argument('<name>', 'the LicenseServerPair')
    .addOption(memberOption())
    .option('--wait', 'wait until the target member is live')
    .addOption(timeoutOption())
    .option('--force', 'patch even when the status says the target is not healthy')
    .action(
      async (
        name: string,
        opts: { to?: Member; wait?: boolean; timeout: number; force?: boolean },
        cmd: Command,
      ) => {
        const { api, ns } = kube(cmd);
        const pair = await api.get(ns, name);
        const plan = planSwitchover(pair, { to: opts.to, force: opts.force, requestValue: requestValue() });
        await applyPlan(plan, api, ns, name, opts, io, deps);
      },
    );

  parent
    .command('failback')
    .description(`return to spec.preferredMember now (sets the ${ANNOTATION_SWITCHOVER_REQUEST} annotation)`)
    .argument('<name>', 'the LicenseServerPair')
    .option('--wait', 'wait until the preferred member is live')
    .addOption(timeoutOption())
    .option('--force', 'annotate even when the status says the preferred member is not healthy')
    .action(
      async (name: string, opts: { wait?: boolean; timeout: number; force?: boolean }, cmd: Command) => {
        const { api, ns } = kube(cmd);
        const pair = await api.get(ns, name);
        const plan = planFailback(pair, { force: opts.force, requestValue: requestValue() });
        await applyPlan(plan, api, ns, name, opts, io, deps);
      },
    );

  return parent;
}

registerCommands((program, io) => {
  addPairCommands(
    program
      .command('pair')
      .description('LicenseServerPairs through the Kubernetes API: list, status, switchover, failback'),
    io,
  );
});
