import type * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import {
  ANNOTATION_PROMOTE_ACCEPTING_DATA_LOSS,
  ANNOTATION_SPEC_HASH,
  ANNOTATION_SWITCHOVER_REQUEST,
  GROUP,
  MEMBERS,
  PLURAL,
  VERSION,
  safeParsePair,
  type LicenseServerPair,
  type Member,
  type PairStatus,
} from '../api/pair.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { Informer } from '../kube/informer.ts';
import { mergePatch } from '../kube/merge-patch.ts';
import type { KubeWriter } from '../kube/writer.ts';
import {
  childNames,
  desiredClientService,
  desiredMemberService,
  desiredNetworkPolicy,
  desiredPdb,
  desiredPod,
  desiredPvc,
  podServesTls,
  portScheme,
  stableStringify,
  type OperatorPeer,
} from './children.ts';
import { setConditions } from './conditions.ts';
import {
  decide,
  observeNode,
  observePod,
  policyFromSpec,
  type Decision,
  type LicenceSecretCheck,
  type Observation,
} from './failover.ts';
import { AdminTokens } from './admin-tokens.ts';
import { PendingDataLossEvents } from './data-loss-events.ts';
import { changeRole } from './member-client.ts';
import { OwnStatusWrites } from './own-writes.ts';
import { actionEventOf, statusEventsOf } from './pair-events.ts';
import { nextStatus } from './status-builder.ts';
import type { Metrics, PairSeries } from './metrics.ts';
import { probeStateFromStatus } from './probe-seed.ts';
import type { Prober, ProbeTarget } from './prober.ts';
import { soloGrantMs } from './serving.ts';
import { statusWrite } from './status-urgency.ts';
import { certificateCondition } from './tls/certificate-condition.ts';
import { memberAdminBaseUrl, memberCallTls, type OperatorContext } from './tls/member-endpoint.ts';
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
/**
 * A member pod still waiting to start this long after its creation may be waiting for its licence
 * Secret (the kubelet says so only in an Event on the pod): the Secret is read then, and again at
 * most this often while a pod waits. A pod that starts in time costs no read.
 */
const SECRET_CHECK_AFTER_MS = 5_000;
const SECRET_RECHECK_MS = 10_000;

export class Reconciler {
  private readonly d: ReconcilerDeps;
  private readonly tokens: AdminTokens;
  private readonly expectedPods = new Map<string, number>();
  /** The spec hash of each pair's desired pods, for the spec generation it was computed from. */
  private readonly podHashes = new Map<
    string,
    { uid: string; generation: number; hash: Record<Member, string> }
  >();
  /** Per pair: status.servingAlone was set when this process first reconciled it. */
  private readonly inheritedAlone = new Map<string, boolean>();
  /** Since when a pair's status has had changes that may wait and are not written yet (STATUS_WAIT_MS). */
  private readonly waitingSince = new Map<string, number>();
  /** The licence Secret as last found, per pair, while a member pod waits to start. */
  private readonly secretChecks = new Map<string, { check: LicenceSecretCheck; at: number }>();
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
  }

  private now(): number {
    return this.d.now ? this.d.now() : Date.now();
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const raw = this.d.pairs.get(key);
    const [namespace, name] = key.split('/') as [string, string];
    const log = this.d.log.child({ pair: key, namespace, name });
    if (!raw) {
      // Deleted: its children go with it (owner references); forget what we kept in memory.
      this.d.prober.removePair(key);
      this.d.series.forget(namespace, name);
      this.tokens.forget(key);
      forgetCertificates(this.d.certificates, key);
      this.waitingSince.delete(key);
      this.podHashes.delete(key);
      this.inheritedAlone.delete(key);
      this.secretChecks.delete(key);
      this.ownWrites.forget(key);
      this.dataLossEvents.forget(key);
      for (const k of this.expectedPods.keys())
        if (k.startsWith(`${namespace}/${name}-`)) this.expectedPods.delete(k);
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
    const names = childNames(name);

    const podHash = this.desiredPodHashes(key, pair);
    const cachedPods = () =>
      Object.fromEntries(MEMBERS.map((m) => [m, this.d.pods.get(`${namespace}/${names.pod[m]}`)])) as Record<
        Member,
        k8s.V1Pod | undefined
      >;
    // The Secret, the supporting objects and missing pods do not depend on each other (a kubelet
    // waits for a pod's Secret): written concurrently, a new pair costs one round trip here.
    const tokenRead =
      pair.spec.server.protocol === 'reference' ? this.tokens.ensure(pair, status) : undefined;
    const certificatesRead = ensureCertificates(this.d.certificates, pair);
    await settleAll([
      tokenRead,
      certificatesRead,
      this.ensureSupportingObjects(pair),
      whenPodsMayChange(pair, certificatesRead, () => this.createMissingPods(pair, cachedPods())),
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

    const pods = cachedPods();
    this.updateProbeTargets(key, pair, pods, token, status);
    const tokenRecheckMs = token !== undefined ? this.recheckTokenIfRefused(key, pods) : undefined;

    // Observe, then decide.
    const now = this.now();
    const switchoverRequest = raw.metadata?.annotations?.[ANNOTATION_SWITCHOVER_REQUEST];
    const obs = this.observe(key, pair, pods, status, switchoverRequest);
    // A value is handled once (status.dataLossPromotion records it): after that it is inert.
    const dataLossRequest = raw.metadata?.annotations?.[ANNOTATION_PROMOTE_ACCEPTING_DATA_LOSS];
    if (dataLossRequest !== undefined && dataLossRequest !== status.dataLossPromotion?.request)
      obs.dataLossRequest = dataLossRequest;
    const secret = await this.checkLicenceSecret(key, pair, pods, now);
    if (secret.check) obs.licenceSecret = secret.check;
    const grantMs = soloGrantMs(pair.spec.healthCheck.timeoutSeconds, this.d.leaderHandoverMs ?? 0);
    // A pair already serving alone when this process first saw it may hold a predecessor's grant.
    if (!this.inheritedAlone.has(key)) this.inheritedAlone.set(key, status.servingAlone !== undefined);
    obs.grantsBindUntil = this.d.prober.grantsBindUntil(key, grantMs, this.inheritedAlone.get(key)!);
    const outdated = MEMBERS.filter((m) => pods[m] && podOutdated(pods[m], podHash[m]));
    for (const m of outdated) obs.members[m].specOutdated = true;
    const decision = decide(obs, policyFromSpec(pair.spec), now);

    if (decision.action !== 'none' || decision.serving.alone)
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
    // Only what changed is written, and fields that went away are removed (null in the patch).
    const statusPatch = mergePatch(status, JSON.parse(JSON.stringify(newStatus)));
    const statusWaitMs = statusPatch === undefined ? undefined : this.statusWait(key, status, newStatus, now);
    const statusChanged = statusPatch !== undefined && statusWaitMs === undefined;
    if (statusChanged) {
      await this.d.writer.patchStatus(GROUP, VERSION, PLURAL, namespace, name, statusPatch);
      this.ownWrites.wrote(key, raw.metadata?.resourceVersion, newStatus);
    }
    // Nothing waits any more: written, or nothing left to write.
    if (statusWaitMs === undefined) this.waitingSince.delete(key);
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

    // Carry out the decision: fence first, then promote, then point the Service.
    const moveStarted = performance.now();
    if (decision.fence) {
      // With a member to promote, the Service moves once, straight from the fenced member to the
      // promoted one, after the promotion: a detour through "no endpoints" would cost a second
      // kube-proxy sync, which its minimum sync period delays by up to a second of refused
      // connections. With nobody to promote, the fenced member leaves the Service now.
      if (!decision.promote)
        await this.d.writer.applyIfChanged(
          desiredClientService(pair, ''),
          this.d.services.get(`${namespace}/${names.clientService}`),
        );
      const demote = this.roleChange(pair, decision.fence, 'demote', decision.epoch, false, token, log);
      // A member that answers (a switchover, or a pod leaving) is demoted before the other is
      // promoted. A failed one may hang: waiting for it would only delay the failover, and it
      // steps down by itself when it sees the higher epoch.
      if (decision.demoteFirst) await demote;
      else void demote;
    }
    if (decision.promote) {
      // Promoted to serve alone (the other member failed): the first grant goes with it.
      const alone = decision.serving.grant;
      const grant =
        alone?.withPromotion && alone.member === decision.promote
          ? this.d.prober.promotionGrant(key, decision.promote, grantMs)
          : undefined;
      const ok = await this.roleChange(
        pair,
        decision.promote,
        'promote',
        decision.epoch,
        decision.fence !== undefined || decision.previousLive !== '',
        token,
        log,
        grant,
      );
      if (!ok) return { requeueAfterMs: 1000 };
    }
    // A ClusterIP client Service is made with the pair's first live member: before that it would
    // select no pod, and making it early costs a server-side apply and an endpoints update per
    // pair. A NodePort or LoadBalancer Service is made at once (a load balancer takes a while to
    // provision, which should not delay the first promotion).
    const clientService = this.d.services.get(`${namespace}/${names.clientService}`);
    if (decision.live !== '' || clientService || pair.spec.service.type !== 'ClusterIP')
      await this.d.writer.applyIfChanged(desiredClientService(pair, decision.live), clientService);

    for (const e of actionEventOf(decision)) this.d.events.record(raw, e.type, e.reason, e.message);
    if (decision.action !== 'none') {
      log.info(
        {
          action: decision.action,
          reason: decision.reason,
          from: decision.previousLive,
          to: decision.live,
          epoch: decision.epoch,
        },
        decision.message,
      );
      if (decision.moved && decision.previousLive !== '' && decision.live !== '') {
        this.d.series.failover(namespace, name, decision.reason);
        const detection = decision.lastFailover?.detectionSeconds ?? 0;
        this.d.metrics.detectionToSwitch.observe(
          { action: decision.action },
          detection + (performance.now() - moveStarted) / 1000,
        );
      }
    }

    if (podsMayChange(pair, certificates)) await this.rollPods(pods, outdated, decision, log);
    this.exportMetrics(namespace, name, pair, decision, newStatus, obs);
    const requeue = [
      endedGrants ? 1 : decision.requeueAfterMs,
      tokenRecheckMs,
      statusWaitMs,
      secret.recheckAfterMs,
      // Renewed when due even if nothing else wakes the pair; a failed issue is retried.
      certificates
        ? certificates.ok
          ? Math.max(1000, certificates.renewAt.getTime() - now)
          : 10_000
        : undefined,
    ].filter((x): x is number => x !== undefined);
    return requeue.length > 0 ? { requeueAfterMs: Math.min(...requeue) } : {};
  }

  /** The serving mark set or cleared, in the log (its Event comes from statusEventsOf). */
  private logServing(prev: PairStatus, next: PairStatus, decision: Decision, log: Logger): void {
    const was = prev.servingAlone;
    const now = next.servingAlone;
    if (now && (!was || was.member !== now.member))
      log.warn({ member: now.member, epoch: now.epoch }, decision.serving.message);
    else if (was && !now) log.info({ member: was.member }, decision.serving.message);
  }

  /**
   * The licence Secret, while a member pod waits to start (SECRET_CHECK_AFTER_MS): whether it
   * exists and holds both keys. Only the finding is kept, never the Secret's data.
   */
  private async checkLicenceSecret(
    key: string,
    pair: LicenseServerPair,
    pods: Record<Member, k8s.V1Pod | undefined>,
    now: number,
  ): Promise<{ check?: LicenceSecretCheck; recheckAfterMs?: number }> {
    const waitingSince = MEMBERS.map((m) => pods[m])
      .filter((p) => p && !p.metadata?.deletionTimestamp && p.status?.phase === 'Pending')
      .map((p) => Date.parse(String(p!.metadata?.creationTimestamp ?? '')) || now);
    if (waitingSince.length === 0) {
      this.secretChecks.delete(key);
      return {};
    }
    const due = Math.min(...waitingSince) + SECRET_CHECK_AFTER_MS;
    if (now < due) return { recheckAfterMs: due - now };
    const cached = this.secretChecks.get(key);
    if (cached && now - cached.at < SECRET_RECHECK_MS)
      return { check: cached.check, recheckAfterMs: cached.at + SECRET_RECHECK_MS - now };
    const src = pair.spec.server.license;
    let check: LicenceSecretCheck;
    try {
      const s = await this.d.writer.readSecret(pair.metadata.namespace, src.secretName);
      const keys = [src.fileKey, src.publicKeyKey].filter((k) => s && s.data?.[k] === undefined);
      check = !s
        ? { state: 'missing' }
        : keys.length > 0
          ? { state: 'missingKeys', keys }
          : { state: 'found' };
    } catch (err) {
      // Unknown is no finding: the pod's own state still shows.
      this.d.log.debug({ pair: key, problem: (err as Error).message }, 'could not read the licence Secret');
      return { recheckAfterMs: SECRET_RECHECK_MS };
    }
    this.secretChecks.set(key, { check, at: now });
    return { check, recheckAfterMs: SECRET_RECHECK_MS };
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

  /**
   * Member Services, PVCs, the PDB and the NetworkPolicy: independent of each other, written
   * concurrently. Their desired state never drops a field (fixed shapes; the policy's rules are
   * one atomic list), so they are created with a plain POST (KubeWriter.applyIfChanged).
   */
  private async ensureSupportingObjects(pair: LicenseServerPair): Promise<void> {
    const ns = pair.metadata.namespace;
    const names = childNames(pair.metadata.name);
    const post = { createWithPost: true };
    const writes: Promise<unknown>[] = [];
    for (const m of MEMBERS) {
      // Member Services made before they were headless are replaced (clusterIP cannot change).
      writes.push(
        this.d.writer.applyReplacingImmutable(
          desiredMemberService(pair, m),
          this.d.services.get(`${ns}/${names.memberService[m]}`),
          post,
        ),
      );
      const pvc = desiredPvc(pair, m);
      if (pvc && !this.d.pvcs.get(`${ns}/${names.pvc[m]}`)) writes.push(this.d.writer.createIfAbsent(pvc));
    }
    writes.push(this.d.writer.applyIfChanged(desiredPdb(pair), this.d.pdbs.get(`${ns}/${names.pdb}`), post));
    const policy = desiredNetworkPolicy(pair, this.d.operatorPeer);
    const livePolicy = this.d.networkPolicies.get(`${ns}/${names.networkPolicy}`);
    if (policy) writes.push(this.d.writer.applyIfChanged(policy, livePolicy, post));
    else if (livePolicy) writes.push(this.d.writer.delete(livePolicy, { uid: livePolicy.metadata!.uid! }));
    // The client Service is applied after the decision is carried out (never before a promotion).
    await settleAll(writes);
  }

  private updateProbeTargets(
    key: string,
    pair: LicenseServerPair,
    pods: Record<Member, k8s.V1Pod | undefined>,
    token: string | undefined,
    status: PairStatus,
  ): void {
    const hc = pair.spec.healthCheck;
    const ports = pair.spec.server.ports;
    const port = typeof hc.port === 'number' ? hc.port : ports[hc.port as keyof typeof ports];
    const path = hc.path ?? '/healthz';
    // The contract's default check on the admin port: the status read stands for it (statusCheck).
    const statusIsHealthCheck = hc.type === 'HTTP' && port === ports.admin && path === '/healthz';
    const tls = (m: Member) => memberCallTls(pair, m, pods[m], this.d.certificates?.operatorContext);
    // The pod's own mode, not the spec's: a pod made before TLS (or during a rollout) is plaintext.
    const httpsCheck = (m: Member) => podServesTls(pods[m]) && portScheme(pair, port) === 'HTTPS';
    const targets: ProbeTarget[] = [];
    for (const m of MEMBERS) {
      const pod = pods[m];
      const ip = pod?.status?.podIP;
      // A deleting pod is still checked while it runs: a leaving live member that answers is
      // handed over (failover.ts, row 3a) rather than failed over.
      if (!pod?.metadata?.uid || !ip) continue;
      targets.push({
        pairKey: key,
        member: m,
        podUID: pod.metadata.uid,
        podIP: ip,
        type: hc.type,
        port,
        path,
        periodMs: hc.periodSeconds * 1000,
        timeoutMs: hc.timeoutSeconds * 1000,
        failureThreshold: hc.failureThreshold,
        successThreshold: hc.successThreshold,
        ...(httpsCheck(m) ? { httpsCheck: true, ...(tls(m) ? { tls: tls(m)! } : {}) } : {}),
        ...(pair.spec.server.protocol === 'reference'
          ? {
              statusUrl: memberAdminBaseUrl(pair, pod, ip),
              ...(token ? { token } : {}),
              ...(tls(m) ? { tls: tls(m)! } : {}),
              statusIsHealthCheck,
            }
          : {}),
      });
    }
    // A member this process starts checking starts from what status recorded of the same pod.
    this.d.prober.setTargets(key, targets, (m) => {
      const pod = pods[m];
      return pod ? probeStateFromStatus(status.members?.[m], pod, hc.successThreshold) : undefined;
    });
  }

  private observe(
    key: string,
    _pair: LicenseServerPair,
    pods: Record<Member, k8s.V1Pod | undefined>,
    status: PairStatus,
    switchoverRequest: string | undefined,
  ): Observation {
    const members = {} as Observation['members'];
    for (const m of MEMBERS) {
      const pod = pods[m];
      const probe = this.d.prober.state(key, m, pod?.metadata?.uid);
      const node = pod?.spec?.nodeName && this.d.nodes ? this.d.nodes.get(pod.spec.nodeName) : undefined;
      const podObs = observePod(pod);
      const nodeObs = this.d.nodes ? observeNode(pod, node) : undefined;
      members[m] = {
        ...(podObs ? { pod: podObs } : {}),
        ...(nodeObs ? { node: nodeObs } : {}),
        probe: probe.history,
        // The decision acts only on reports this process read (a report taken over from status
        // fills in the status, probe-seed.ts).
        ...(probe.server && !probe.fromStatus ? { server: probe.server } : {}),
      };
    }
    const ms = (t: string | undefined) => (t ? Date.parse(t) : undefined);
    const lastFailoverAt = ms(status.lastFailover?.time);
    const liveSince = ms(status.liveSince);
    return {
      members,
      status: {
        liveMember: status.liveMember ?? '',
        epoch: status.epoch ?? 0,
        ...(lastFailoverAt !== undefined ? { lastFailoverAt } : {}),
        ...(liveSince !== undefined ? { liveSince } : {}),
        failoverCount: status.failoverCount ?? 0,
        ...(status.preferredMember ? { preferredMember: status.preferredMember } : {}),
        ...(status.servingAlone
          ? {
              servingAlone: {
                member: status.servingAlone.member,
                epoch: status.servingAlone.epoch,
                since: Date.parse(status.servingAlone.since),
              },
            }
          : {}),
      },
      switchoverRequested:
        switchoverRequest !== undefined && switchoverRequest !== status.lastSwitchoverRequest,
    };
  }

  private async roleChange(
    pair: LicenseServerPair,
    member: Member,
    action: 'promote' | 'demote',
    epoch: number,
    force: boolean,
    token: string | undefined,
    log: Logger,
    grant?: { anchor: number; ms: number },
  ): Promise<boolean> {
    const key = `${pair.metadata.namespace}/${pair.metadata.name}`;
    if (pair.spec.server.protocol !== 'reference') return true;
    const pod = this.d.pods.get(`${pair.metadata.namespace}/${childNames(pair.metadata.name).pod[member]}`);
    const ip = pod?.status?.podIP;
    // A deleting pod is never promoted; it is still demoted: it may run on (a preStop hook holds
    // it so that a leaving live member hands over cleanly).
    if (!ip || (action === 'promote' && pod?.metadata?.deletionTimestamp)) {
      // Nothing to tell: a member without a running pod cannot serve. For a promote this is a failure.
      return action === 'demote';
    }
    const auth = { token, tls: memberCallTls(pair, member, pod, this.d.certificates?.operatorContext) };
    const r = await changeRole(
      memberAdminBaseUrl(pair, pod, ip),
      auth,
      action,
      epoch,
      force,
      this.d.roleChangeTimeoutMs ?? 2000,
      grant,
    );
    this.d.prober.forgetServerReport(key, member);
    // A refused token was probably rotated: read the Secret again on the retry, not in five minutes.
    if (r.status === 401) this.tokens.forget(key);
    if (r.ok) return true;
    if (action === 'demote') {
      // A fenced member that does not answer is already out of the Service; it will step down
      // when it sees the higher epoch.
      log.warn(
        { member, epoch, status: r.status, code: r.code, problem: r.message },
        'could not demote the fenced member',
      );
      return true;
    }
    log.warn({ member, epoch, status: r.status, code: r.code, problem: r.message }, 'promotion refused');
    const raw = this.d.pairs.get(key);
    if (raw)
      this.d.events.record(
        raw,
        'Warning',
        'PromoteFailed',
        `promoting ${member} (epoch ${epoch}) failed: ${r.code ?? r.status} ${r.message}`,
      );
    return false;
  }

  /**
   * A pod spec's hash is the most expensive thing a reconcile computes, and it follows from the
   * pair's spec alone: computed once per spec generation. Only the hash is kept (a thousand pairs'
   * pod objects would cost the heap more than they save); a missing pod is built when created.
   */
  private desiredPodHashes(key: string, pair: LicenseServerPair): Record<Member, string> {
    const compute = () =>
      Object.fromEntries(
        MEMBERS.map((m) => [m, desiredPod(pair, m).metadata?.annotations?.[ANNOTATION_SPEC_HASH] ?? '']),
      ) as Record<Member, string>;
    const { uid, generation } = pair.metadata;
    if (uid === undefined || generation === undefined) return compute();
    const cached = this.podHashes.get(key);
    if (cached && cached.uid === uid && cached.generation === generation) return cached.hash;
    const hash = compute();
    this.podHashes.set(key, { uid, generation, hash });
    return hash;
  }

  /** Creates the members' pods that do not exist. */
  private async createMissingPods(
    pair: LicenseServerPair,
    pods: Record<Member, k8s.V1Pod | undefined>,
  ): Promise<void> {
    const creates: Promise<void>[] = [];
    for (const m of MEMBERS) {
      const podKey = `${pair.metadata.namespace}/${childNames(pair.metadata.name).pod[m]}`;
      if (pods[m]) {
        this.expectedPods.delete(podKey);
        continue;
      }
      // Expectations, as in client-go: a pod created a moment ago may not be in the informer's
      // cache yet; creating it again would only be a wasted write answered by 409.
      if ((this.expectedPods.get(podKey) ?? 0) > this.now()) continue;
      creates.push(
        this.d.writer.createIfAbsent(desiredPod(pair, m)).then(() => {
          this.expectedPods.set(podKey, this.now() + 30_000);
        }),
      );
    }
    await settleAll(creates);
  }

  /** Replace outdated or dead pods, never the live member while it serves. */
  private async rollPods(
    pods: Record<Member, k8s.V1Pod | undefined>,
    outdated: Member[],
    decision: Decision,
    log: Logger,
  ): Promise<void> {
    for (const m of MEMBERS) {
      const pod = pods[m];
      // A missing pod was created at the start of the reconcile (createMissingPods).
      if (!pod || pod.metadata?.deletionTimestamp) continue;
      const finished = pod.status?.phase === 'Failed' || pod.status?.phase === 'Succeeded';
      const liveHealthy = decision.live !== '' && decision.members[decision.live].healthy;
      const replaceable = m !== decision.live && (liveHealthy || decision.live === '');
      if (finished || (outdated.includes(m) && replaceable)) {
        log.info(
          { member: m, reason: finished ? `pod ${pod.status?.phase}` : 'spec changed' },
          'replacing member pod',
        );
        await this.d.writer.delete(pod, { uid: pod.metadata!.uid! });
      }
    }
  }

  private exportMetrics(
    namespace: string,
    name: string,
    pair: LicenseServerPair,
    decision: Decision,
    status: PairStatus,
    obs: Observation,
  ): void {
    const m = this.d.metrics;
    const sel = { namespace, pair: name };
    const ready = decision.conditions.find((c) => c.type === 'Ready');
    this.d.series.setReady(namespace, name, ready?.status === 'True', ready?.reason ?? 'Unknown');
    // The licence in force: the live member's, else the other's.
    const first = decision.live === '' ? pair.spec.preferredMember : decision.live;
    const licence = [first, other(first)]
      .map((mb) => obs.members[mb].server?.licence)
      .find((l) => l?.state === 'valid');
    if (licence?.firstExpiry) m.pairLicenceExpiry.set(sel, licence.firstExpiry.at / 1000);
    else m.pairLicenceExpiry.remove(sel);
    m.pairLicenceWarning.set(sel, pair.spec.server.license.expiryWarningDays * 86_400);
    m.pairLicenceUpdateRefused.set(sel, licence?.lastError !== undefined ? 1 : 0);
    this.d.series.setInfo(namespace, name, decision.live, decision.phase);
    m.pairLive.set(sel, decision.live === '' ? 0 : 1);
    for (const member of MEMBERS) {
      const expires = status.members?.[member]?.certificateExpires;
      if (expires) m.memberCertificateExpiry.set({ ...sel, member }, Date.parse(expires) / 1000);
      else m.memberCertificateExpiry.remove({ ...sel, member });
      m.pairLiveMember.set({ ...sel, member }, decision.live === member ? 1 : 0);
      m.memberHealthy.set({ ...sel, member }, decision.members[member].healthy ? 1 : 0);
    }
    const standby = decision.live === '' ? undefined : other(decision.live);
    m.pairStandbyReady.set(sel, standby && decision.members[standby].eligibleForFailover ? 1 : 0);
    m.pairServingAlone.set(sel, decision.serving.alone ? 1 : 0);
    if (status.liveSince) m.pairLiveSince.set(sel, Date.parse(status.liveSince) / 1000);
    m.pairOnPreferred.set(sel, decision.live === pair.spec.preferredMember ? 1 : 0);
  }
}

/**
 * Waits for every write, then throws the first failure: unlike Promise.all, no write is still
 * running unobserved when the reconcile ends (and is retried).
 */
async function settleAll(writes: (Promise<unknown> | undefined)[]): Promise<void> {
  const failed = (await Promise.allSettled(writes)).find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}

function other(m: Member): Member {
  return m === 'primary' ? 'redundant' : 'primary';
}

function podOutdated(pod: k8s.V1Pod, desiredHash: string): boolean {
  return pod.metadata?.annotations?.[ANNOTATION_SPEC_HASH] !== desiredHash;
}
