// Carrying out a decision, in the order that keeps one member serving: fence first, then
// promote, then point the client Service; then its Event, log line and failover metrics. The
// decision itself (failover.ts) is pure; this is its thin Kubernetes and member I/O.
import type * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { LicenseServerPair, Member } from '../api/pair.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { Informer } from '../kube/informer.ts';
import type { KubeWriter } from '../kube/writer.ts';
import { childNames } from './child-names.ts';
import type { Decision } from './decision.ts';
import { changeRole } from './member-client.ts';
import type { Metrics, PairSeries } from './metrics.ts';
import { actionEventOf } from './pair-events.ts';
import { desiredClientService } from './pair-services.ts';
import type { Prober } from './prober.ts';
import { memberAdminBaseUrl, memberCallTls, type OperatorContext } from './tls/member-endpoint.ts';

export interface CarryOutDeps {
  writer: Pick<KubeWriter, 'applyIfChanged'>;
  pods: Informer<k8s.V1Pod>;
  services: Informer<k8s.V1Service>;
  prober: Pick<Prober, 'promotionGrant' | 'forgetServerReport'>;
  events: EventRecorder;
  metrics: Metrics;
  series: PairSeries;
  operatorContext?: OperatorContext | undefined;
  roleChangeTimeoutMs?: number | undefined;
  /** a member refused the admin token: read its Secret again on the retry */
  tokenRefused: (key: string) => void;
}

export interface CarryOutInput {
  pair: LicenseServerPair;
  /** the pair as read, for Events */
  raw: k8s.KubernetesObject;
  decision: Decision;
  token: string | undefined;
  /** the length of a solo grant (serving.ts: soloGrantMs) */
  grantMs: number;
  log: Logger;
}

/** Carries out `decision`; false when a promotion was refused (retry soon). */
export async function carryOut(d: CarryOutDeps, c: CarryOutInput): Promise<boolean> {
  const { pair, decision, log } = c;
  const { namespace, name } = pair.metadata;
  const key = `${namespace}/${name}`;
  const names = childNames(name);
  const moveStarted = performance.now();
  if (decision.fence) {
    // With a member to promote, the Service moves once, straight from the fenced member to the
    // promoted one, after the promotion: a detour through "no endpoints" would cost a second
    // kube-proxy sync, which its minimum sync period delays by up to a second of refused
    // connections. With nobody to promote, the fenced member leaves the Service now.
    if (!decision.promote)
      await d.writer.applyIfChanged(
        desiredClientService(pair, ''),
        d.services.get(`${namespace}/${names.clientService}`),
      );
    const demote = roleChange(d, c, decision.fence, 'demote', false);
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
        ? d.prober.promotionGrant(key, decision.promote, c.grantMs)
        : undefined;
    const force = decision.fence !== undefined || decision.previousLive !== '';
    if (!(await roleChange(d, c, decision.promote, 'promote', force, grant))) return false;
  }
  // A ClusterIP client Service is made with the pair's first live member: before that it would
  // select no pod, and making it early costs a server-side apply and an endpoints update per
  // pair. A NodePort or LoadBalancer Service is made at once (a load balancer takes a while to
  // provision, which should not delay the first promotion).
  const clientService = d.services.get(`${namespace}/${names.clientService}`);
  if (decision.live !== '' || clientService || pair.spec.service.type !== 'ClusterIP')
    await d.writer.applyIfChanged(desiredClientService(pair, decision.live), clientService);

  for (const e of actionEventOf(decision)) d.events.record(c.raw, e.type, e.reason, e.message);
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
      d.series.failover(namespace, name, decision.reason);
      const detection = decision.lastFailover?.detectionSeconds ?? 0;
      d.metrics.detectionToSwitch.observe(
        { action: decision.action },
        detection + (performance.now() - moveStarted) / 1000,
      );
    }
  }
  return true;
}

/** Tells a member its new role; true when done (a demotion that fails is done: see below). */
async function roleChange(
  d: CarryOutDeps,
  c: CarryOutInput,
  member: Member,
  action: 'promote' | 'demote',
  force: boolean,
  grant?: { anchor: number; ms: number },
): Promise<boolean> {
  const { pair, log } = c;
  const epoch = c.decision.epoch;
  const key = `${pair.metadata.namespace}/${pair.metadata.name}`;
  if (pair.spec.server.protocol !== 'reference') return true;
  const pod = d.pods.get(`${pair.metadata.namespace}/${childNames(pair.metadata.name).pod[member]}`);
  const ip = pod?.status?.podIP;
  // A deleting pod is never promoted; it is still demoted: it may run on (a preStop hook holds
  // it so that a leaving live member hands over cleanly).
  if (!ip || (action === 'promote' && pod?.metadata?.deletionTimestamp)) {
    // Nothing to tell: a member without a running pod cannot serve. For a promote this is a failure.
    return action === 'demote';
  }
  const auth = { token: c.token, tls: memberCallTls(pair, member, pod, d.operatorContext) };
  const r = await changeRole(
    memberAdminBaseUrl(pair, pod, ip),
    auth,
    action,
    epoch,
    force,
    d.roleChangeTimeoutMs ?? 2000,
    action === 'promote' ? { ...(grant ? { grant } : {}), peerExited: c.decision.peerExited === true } : {},
  );
  d.prober.forgetServerReport(key, member);
  // A refused token was probably rotated: read the Secret again on the retry, not in five minutes.
  if (r.status === 401) d.tokenRefused(key);
  if (r.ok) {
    // The promise wait is most of a failover's time when the fenced member cannot say it stepped down.
    if (r.waitedMs)
      log.info(
        { member, epoch, waitedMs: r.waitedMs, peerExited: c.decision.peerExited === true },
        "the promoted member waited out its promise to the fenced member's process",
      );
    return true;
  }
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
  d.events.record(
    c.raw,
    'Warning',
    'PromoteFailed',
    `promoting ${member} (epoch ${epoch}) failed: ${r.code ?? r.status} ${r.message}`,
  );
  return false;
}
