// The members' pods: the spec hash each should carry, creating the ones that are missing (with
// client-go's expectations, so a pod not yet in the informer's cache is not created twice), and
// replacing outdated or finished ones, never the live member while it serves.
import type * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { ANNOTATION_SPEC_HASH, MEMBERS, type LicenseServerPair, type Member } from '../api/pair.ts';
import type { KubeWriter } from '../kube/writer.ts';
import { childNames } from './child-names.ts';
import type { Decision } from './decision.ts';
import { desiredPod } from './member-pod-spec.ts';
import { settleAll } from './settle-all.ts';

/** How long a created pod is expected to show up in the informer's cache. */
const EXPECT_CREATED_MS = 30_000;

export class MemberPods {
  private readonly writer: Pick<KubeWriter, 'createIfAbsent' | 'delete'>;
  private readonly now: () => number;
  private readonly expected = new Map<string, number>();
  /** The spec hash of each pair's desired pods, for the spec generation it was computed from. */
  private readonly hashes = new Map<
    string,
    { uid: string; generation: number; hash: Record<Member, string> }
  >();

  constructor(writer: Pick<KubeWriter, 'createIfAbsent' | 'delete'>, now: () => number) {
    this.writer = writer;
    this.now = now;
  }

  forget(namespace: string, name: string): void {
    this.hashes.delete(`${namespace}/${name}`);
    for (const k of this.expected.keys()) if (k.startsWith(`${namespace}/${name}-`)) this.expected.delete(k);
  }

  /**
   * A pod spec's hash is the most expensive thing a reconcile computes, and it follows from the
   * pair's spec alone: computed once per spec generation. Only the hash is kept (a thousand pairs'
   * pod objects would cost the heap more than they save); a missing pod is built when created.
   */
  desiredHashes(key: string, pair: LicenseServerPair): Record<Member, string> {
    const compute = () =>
      Object.fromEntries(
        MEMBERS.map((m) => [m, desiredPod(pair, m).metadata?.annotations?.[ANNOTATION_SPEC_HASH] ?? '']),
      ) as Record<Member, string>;
    const { uid, generation } = pair.metadata;
    if (uid === undefined || generation === undefined) return compute();
    const cached = this.hashes.get(key);
    if (cached && cached.uid === uid && cached.generation === generation) return cached.hash;
    const hash = compute();
    this.hashes.set(key, { uid, generation, hash });
    return hash;
  }

  /** Creates the members' pods that do not exist. */
  async createMissing(pair: LicenseServerPair, pods: Record<Member, k8s.V1Pod | undefined>): Promise<void> {
    const creates: Promise<void>[] = [];
    for (const m of MEMBERS) {
      const podKey = `${pair.metadata.namespace}/${childNames(pair.metadata.name).pod[m]}`;
      if (pods[m]) {
        this.expected.delete(podKey);
        continue;
      }
      // Expectations, as in client-go: a pod created a moment ago may not be in the informer's
      // cache yet; creating it again would only be a wasted write answered by 409.
      if ((this.expected.get(podKey) ?? 0) > this.now()) continue;
      creates.push(
        this.writer.createIfAbsent(desiredPod(pair, m)).then(() => {
          this.expected.set(podKey, this.now() + EXPECT_CREATED_MS);
        }),
      );
    }
    await settleAll(creates);
  }

  /** Replace outdated or dead pods, never the live member while it serves. */
  async roll(
    pods: Record<Member, k8s.V1Pod | undefined>,
    outdated: Member[],
    decision: Decision,
    log: Logger,
  ): Promise<void> {
    for (const m of MEMBERS) {
      const pod = pods[m];
      // A missing pod was created at the start of the reconcile (createMissing).
      if (!pod || pod.metadata?.deletionTimestamp) continue;
      const finished = pod.status?.phase === 'Failed' || pod.status?.phase === 'Succeeded';
      const liveHealthy = decision.live !== '' && decision.members[decision.live].healthy;
      const replaceable = m !== decision.live && (liveHealthy || decision.live === '');
      if (finished || (outdated.includes(m) && replaceable)) {
        log.info(
          { member: m, reason: finished ? `pod ${pod.status?.phase}` : 'spec changed' },
          'replacing member pod',
        );
        await this.writer.delete(pod, { uid: pod.metadata!.uid! });
      }
    }
  }
}

export function podOutdated(pod: k8s.V1Pod, desiredHash: string): boolean {
  return pod.metadata?.annotations?.[ANNOTATION_SPEC_HASH] !== desiredHash;
}
