import type * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import {
  ANNOTATION_PROMOTE_ACCEPTING_DATA_LOSS,
  ANNOTATION_SWITCHOVER_REQUEST,
  GROUP,
  healthCheckTimeoutMs,
  MEMBERS,
  PLURAL,
  VERSION,
  type LicenseServerPair,
  type Member,
  type PairStatus,
} from '../api/pair.ts';
import { safeParsePair } from '../api/pair-parse.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { Informer } from '../kube/informer.ts';
import { mergePatch } from '../kube/merge-patch.ts';
import type { KubeWriter } from '../kube/writer.ts';
import { AdminTokens } from './admin-tokens.ts';
import { carryOut } from './carry-out.ts';
import { childNames } from './child-names.ts';
import { setConditions } from './conditions.ts';
import { PendingDataLossEvents } from './data-loss-events.ts';
import type { Decision } from './decision.ts';
import { decide } from './failover.ts';
import { policyFromSpec } from './observation.ts';
import { LicenceSecretChecks } from './licence-secret-checks.ts';
import { isCertificateRefusal } from './member-call-error.ts';
import { MemberPods, podOutdated } from './member-pods.ts';
import type { Metrics, PairSeries } from './metrics.ts';
import { OwnStatusWrites } from './own-writes.ts';
import { exportPairMetrics } from './pair-metrics-export.ts';
import type { OperatorPeer } from './pair-network-policy.ts';
import { statusEventsOf } from './pair-events.ts';
import { observePair } from './pair-observation.ts';
import { probeStateFromStatus } from './probe-seed.ts';
import { probeTargets } from './probe-targets.ts';
import type { Prober } from './prober.ts';
import { soloGrantMs } from './serving.ts';
import { usesProvidedCertificates } from './serves-tls.ts';
import { settleAll } from './settle-all.ts';
import { stableStringify } from './stable-stringify.ts';
import { nextStatus } from './status-builder.ts';
import { statusWrite } from './status-urgency.ts';
import { ensureSupportingObjects } from './supporting-objects.ts';
import { certificateCondition } from './tls/certificate-condition.ts';
import { CERTIFICATE_RETRY_MS } from './tls/provided-certificates.ts';
import { memberCallTls, type OperatorContext } from './tls/member-endpoint.ts';
import {
  ensureCertificates,
  forgetCertificates,
  podsMayChange,
  whenPodsMayChange,
  type PairTlsPaths,
} from './tls/pair-tls.ts';

/**
 * The reconcile of one pair: read the world from the informers' caches and the prober, ask the
 * pure decision what to do, carry it out in a safe order, and write status only when it changed.
 * Level-triggered: it depends on nothing but what it reads now and what status says.
 */
export interface ReconcilerDeps {
  pairs: Informer<k8s.KubernetesObject>;
  pods: Informer<k8s.V1Pod>;
  services: Informer<k8s.V1Service>;
  pdbs: Informer<k8s.V1PodDisruptionBudget>;
  pvcs: Informer<k8s.V1PersistentVolumeClaim>;
  networkPolicies: Informer<k8s.V1NetworkPolicy>;
  nodes?: Informer<k8s.V1Node>;
  /** The operator's own pods, admitted by each pair's NetworkPolicy. */
  operatorPeer?: OperatorPeer;
  writer: KubeWriter;
  events: EventRecorder;
  prober: Prober;
  metrics: Metrics;
  series: PairSeries;
  log: Logger;
  now?: () => number;
  roleChangeTimeoutMs?: number;
  /** With leader election: how long a leader's death may leave the pairs without one (solo grants outlast it). */
  leaderHandoverMs?: number;
  /** The members' certificates (issued, or provided and checked), and the operator's own for calling them. */
  certificates?: PairTlsPaths & { operatorContext: OperatorContext };
}

export interface ReconcileResult {
  requeueAfterMs?: number;
}

/**
 * A status change that may wait (status-urgency.ts) waits at most this long, counted from the
 * first such change, for a change that must go out at once to take it along.
 */
export const STATUS_WAIT_MS = 5_000;
export class Reconciler {
  private readonly d: ReconcilerDeps;
  private readonly tokens: AdminTokens;
  private readonly memberPods: MemberPods;
  private readonly secretChecks: LicenceSecretChecks;
  /** Per pair: status.servingAlone was set when this process first reconciled it. */
  private readonly inheritedAlone = new Map<string, boolean>();
  /** Since when a pair's status has had changes that may wait and are not written yet (STATUS_WAIT_MS). */
  private readonly waitingSince = new Map<string, number>();
  private readonly ownWrites = new OwnStatusWrites();
  private readonly dataLossEvents = new PendingDataLossEvents();

  constructor(deps: ReconcilerDeps) {
    this.d = deps;
    this.tokens = new AdminTokens(
      {
        readSecret: (ns, name) => deps.writer.readSecret(ns, name),
        createIfAbsent: (secret) => deps.writer.createIfAbsent(secret),
      },
      () => this.now(),
    );
    this.memberPods = new MemberPods(deps.writer, () => this.now());
    this.secretChecks = new LicenceSecretChecks(deps.writer, deps.log);
  }

  private now(): number {
    return this.d.now ? this.d.now() : Date.now();
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const raw = this.d.pairs.get(key);
    const [namespace, name] = key.split('/') as [string, string];
    const log = this.d.log.child({ pair: key, namespace, name });
    if (!raw) {
      this.forget(key, namespace, name);
      return {};
    }
    if (raw.metadata?.deletionTimestamp) return {};
    const parsed = safeParsePair(raw);
    if (!parsed.success) {
      await this.reportInvalid(
        raw,
        parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
        log,
      );
      return {};
    }
    const pair = parsed.data;
    const status = this.ownWrites.current(key, raw.metadata?.resourceVersion, pair.status);

    const { token, certificates } = await this.ensureChildren(pair, status, raw, log);
    const pods = this.cachedPods(pair);
    this.d.prober.setTargets(
      key,
      probeTargets(key, pair, pods, token, (m) =>
        memberCallTls(pair, m, pods[m], this.d.certificates?.operatorContext),
      ),
      // A member this process starts checking starts from what status recorded of the same pod.
      (m) => {
        const pod = pods[m];
        return pod
          ? probeStateFromStatus(status.members?.[m], pod, pair.spec.healthCheck.successThreshold)
          : undefined;
      },
    );
    const tokenRecheckMs = token !== undefined ? this.recheckTokenIfRefused(key, pods) : undefined;
    const certificateRecheckMs = this.recheckCertificatesIfRefused(key, pair, pods);

    // Observe, then decide.
    const now = this.now();
    const switchoverRequest = raw.metadata?.annotations?.[ANNOTATION_SWITCHOVER_REQUEST];
    const obs = observePair({
      pods,
      probe: (m) => this.d.prober.state(key, m, pods[m]?.metadata?.uid),
      ...(this.d.nodes ? { node: (n: string) => this.d.nodes!.get(n) } : {}),
      status,
      switchoverRequest,
    });
    // A value is handled once (status.dataLossPromotion records it): after that it is inert.
    const dataLossRequest = raw.metadata?.annotations?.[ANNOTATION_PROMOTE_ACCEPTING_DATA_LOSS];
    if (dataLossRequest !== undefined && dataLossRequest !== status.dataLossPromotion?.request)
      obs.dataLossRequest = dataLossRequest;
    const secret = await this.secretChecks.check(key, pair, pods, now);
    if (secret.check) obs.licenceSecret = secret.check;
    const grantMs = soloGrantMs(
      healthCheckTimeoutMs(pair.spec.healthCheck) / 1000,
      this.d.leaderHandoverMs ?? 0,
    );
    // A pair already serving alone when this process first saw it may hold a predecessor's grant.
    if (!this.inheritedAlone.has(key)) this.inheritedAlone.set(key, status.servingAlone !== undefined);
    obs.grantsBindUntil = this.d.prober.grantsBindUntil(key, grantMs, this.inheritedAlone.get(key)!);
    const podHash = this.memberPods.desiredHashes(key, pair);
    const outdated = MEMBERS.filter((m) => pods[m] && podOutdated(pods[m], podHash[m]));
    for (const m of outdated) obs.members[m].specOutdated = true;
    const decision = decide(obs, policyFromSpec(pair.spec), now);
    logDecision(decision, log);

    const newStatus = nextStatus(
      pair,
      status,
      decision,
      pods,
      (m) => this.d.prober.state(key, m, pods[m]?.metadata?.uid),
      now,
      switchoverRequest,
      {
        condition: certificateCondition(pair, certificates),
        ...(certificates?.ok ? { expires: certificates.expires } : {}),
      },
    );
    const { statusWaitMs, statusChanged } = await this.writeStatus(key, raw, status, newStatus, now);
    // Solo grants go out only once status.servingAlone is written (it always goes out at once).
    const grant = decision.serving.grant;
    this.d.prober.setGrant(key, grant && statusWaitMs === undefined ? { ...grant, ms: grantMs } : undefined);
    // The standby has resynced: end the grants rather than wait them out, and decide again.
    const end = decision.serving.endGrants;
    const endedGrants = end ? await this.d.prober.endGrants(key, end.member, end.epoch) : false;
    if (endedGrants)
      log.info({ member: end!.member, epoch: end!.epoch }, 'solo grants ended: the standby has resynced');
    this.logServing(status, newStatus, decision, log);
    for (const e of statusEventsOf(status, newStatus, decision, statusChanged))
      this.d.events.record(raw, e.type, e.reason, e.message);
    for (const e of this.dataLossEvents.of(key, decision))
      this.d.events.record(raw, e.type, e.reason, e.message);

    const carried = await carryOut(
      {
        writer: this.d.writer,
        pods: this.d.pods,
        services: this.d.services,
        prober: this.d.prober,
        events: this.d.events,
        metrics: this.d.metrics,
        series: this.d.series,
        operatorContext: this.d.certificates?.operatorContext,
        roleChangeTimeoutMs: this.d.roleChangeTimeoutMs,
        tokenRefused: (k) => this.tokens.forget(k),
      },
      { pair, raw, decision, token, grantMs, log },
    );
    if (!carried) return { requeueAfterMs: 1000 };

    if (podsMayChange(pair, certificates)) await this.memberPods.roll(pods, outdated, decision, log);
    exportPairMetrics(this.d.metrics, this.d.series, pair, decision, newStatus, obs);
    return requeueOf([
      endedGrants ? 1 : decision.requeueAfterMs,
      tokenRecheckMs,
      certificateRecheckMs,
      statusWaitMs,
      secret.recheckAfterMs,
      // Renewed when due even if nothing else wakes the pair; a failed issue is retried.
      certificates
        ? certificates.ok
          ? Math.max(1000, certificates.renewAt.getTime() - now)
          : CERTIFICATE_RETRY_MS
        : undefined,
    ]);
  }

  /** Deleted: its children go with it (owner references); forget what we kept in memory. */
  private forget(key: string, namespace: string, name: string): void {
    this.d.prober.removePair(key);
    this.d.series.forget(namespace, name);
    this.tokens.forget(key);
    forgetCertificates(this.d.certificates, key);
    this.waitingSince.delete(key);
    this.memberPods.forget(namespace, name);
    this.inheritedAlone.delete(key);
    this.secretChecks.forget(key);
    this.ownWrites.forget(key);
    this.dataLossEvents.forget(key);
  }

  private cachedPods(pair: LicenseServerPair): Record<Member, k8s.V1Pod | undefined> {
    const names = childNames(pair.metadata.name);
    return Object.fromEntries(
      MEMBERS.map((m) => [m, this.d.pods.get(`${pair.metadata.namespace}/${names.pod[m]}`)]),
    ) as Record<Member, k8s.V1Pod | undefined>;
  }

  /**
   * The admin token, the certificates, the supporting objects and missing pods. They do not
   * depend on each other (a kubelet waits for a pod's Secret): written concurrently, a new pair
   * costs one round trip here.
   */
  private async ensureChildren(
    pair: LicenseServerPair,
    status: PairStatus,
    raw: k8s.KubernetesObject,
    log: Logger,
  ) {
    const tokenRead =
      pair.spec.server.protocol === 'reference' ? this.tokens.ensure(pair, status) : undefined;
    const certificatesRead = ensureCertificates(this.d.certificates, pair);
    await settleAll([
      tokenRead,
      certificatesRead,
      ensureSupportingObjects(this.d, pair),
      whenPodsMayChange(pair, certificatesRead, () =>
        this.memberPods.createMissing(pair, this.cachedPods(pair)),
      ),
    ]);
    const token = await tokenRead;
    const certificates = await certificatesRead;
    if (certificates && !certificates.ok)
      log.warn({ err: certificates.message }, 'the member certificates are not ready');
    for (const c of certificates?.ok ? (certificates.issued ?? []) : []) {
      const message = `issued the ${c.member} member a certificate valid until ${c.notAfter.toISOString()} (${c.why})`;
      log.info({ member: c.member, notAfter: c.notAfter.toISOString() }, message);
      this.d.events.record(raw, 'Normal', 'CertificateIssued', message);
    }
    return { token, certificates };
  }

  /**
   * Only what changed is written, and fields that went away are removed (null in the patch); a
   * change that may wait does (STATUS_WAIT_MS).
   */
  private async writeStatus(
    key: string,
    raw: k8s.KubernetesObject,
    status: PairStatus,
    newStatus: PairStatus,
    now: number,
  ): Promise<{ statusWaitMs: number | undefined; statusChanged: boolean }> {
    const statusPatch = mergePatch(status, JSON.parse(JSON.stringify(newStatus)));
    const statusWaitMs = statusPatch === undefined ? undefined : this.statusWait(key, status, newStatus, now);
    const statusChanged = statusPatch !== undefined && statusWaitMs === undefined;
    if (statusChanged) {
      const [namespace, name] = key.split('/') as [string, string];
      await this.d.writer.patchStatus(GROUP, VERSION, PLURAL, namespace, name, statusPatch);
      this.ownWrites.wrote(key, raw.metadata?.resourceVersion, newStatus);
    }
    // Nothing waits any more: written, or nothing left to write.
    if (statusWaitMs === undefined) this.waitingSince.delete(key);
    return { statusWaitMs, statusChanged };
  }

  /** The serving mark set or cleared, in the log (its Event comes from statusEventsOf). */
  private logServing(prev: PairStatus, next: PairStatus, decision: Decision, log: Logger): void {
    const was = prev.servingAlone;
    const now = next.servingAlone;
    if (now && (!was || was.member !== now.member))
      log.warn({ member: now.member, epoch: now.epoch }, decision.serving.message);
    else if (was && !now) log.info({ member: was.member }, decision.serving.message);
  }

  /** How long a status change still waits (STATUS_WAIT_MS); undefined: write it now. */
  private statusWait(key: string, status: PairStatus, next: PairStatus, now: number): number | undefined {
    if (statusWrite(status, next) === 'now') return undefined;
    const since = this.waitingSince.get(key) ?? now;
    this.waitingSince.set(key, since);
    const wait = since + STATUS_WAIT_MS - now;
    return wait > 0 ? wait : undefined;
  }

  private async reportInvalid(raw: k8s.KubernetesObject, message: string, log: Logger): Promise<void> {
    log.warn({ problem: message }, 'invalid LicenseServerPair');
    // The alerts carry the reason too (lpo_pair_ready).
    this.d.series.setReady(raw.metadata!.namespace!, raw.metadata!.name!, false, 'InvalidSpec');
    const status = ((raw as { status?: PairStatus }).status ?? {}) as PairStatus;
    const conditions = setConditions(
      status.conditions,
      [{ type: 'Ready', status: 'False', reason: 'InvalidSpec', message: message.slice(0, 1000) }],
      new Date(this.now()),
      raw.metadata?.generation,
    );
    if (stableStringify(conditions) === stableStringify(status.conditions ?? [])) return;
    await this.d.writer.patchStatus(GROUP, VERSION, PLURAL, raw.metadata!.namespace!, raw.metadata!.name!, {
      conditions,
    });
    this.d.events.record(raw, 'Warning', 'InvalidSpec', message.slice(0, 1000));
  }

  /** The members' status needs the token: one that answers its check but not its status was likely refused it. */
  private recheckTokenIfRefused(
    key: string,
    pods: Record<Member, k8s.V1Pod | undefined>,
  ): number | undefined {
    const refused = MEMBERS.some((m) => {
      const probe = this.d.prober.state(key, m, pods[m]?.metadata?.uid);
      return !probe.fromStatus && probe.lastResult?.ok === true && probe.server === undefined;
    });
    return this.tokens.recheckIfRefused(key, refused);
  }

  /** With provided certificates, a member refused on its certificate has the Secrets read again soon. */
  private recheckCertificatesIfRefused(
    key: string,
    pair: LicenseServerPair,
    pods: Record<Member, k8s.V1Pod | undefined>,
  ): number | undefined {
    const provided = this.d.certificates?.provided;
    if (!provided || !usesProvidedCertificates(pair)) return undefined;
    const refused = MEMBERS.some((m) =>
      isCertificateRefusal(this.d.prober.state(key, m, pods[m]?.metadata?.uid).lastResult?.message),
    );
    return provided.recheckIfRefused(key, refused);
  }
}

function logDecision(decision: Decision, log: Logger): void {
  if (decision.action === 'none' && !decision.serving.alone) return;
  log.debug(
    {
      row: decision.row,
      action: decision.action,
      reason: decision.reason,
      live: decision.live,
      epoch: decision.epoch,
      serving: decision.serving.reason,
    },
    'decision',
  );
}

/** The soonest of the requeues asked for; none when nothing asked. */
function requeueOf(asked: (number | undefined)[]): ReconcileResult {
  const requeue = asked.filter((x): x is number => x !== undefined);
  return requeue.length > 0 ? { requeueAfterMs: Math.min(...requeue) } : {};
}
