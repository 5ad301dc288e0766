// The licence Secret, read only while a member pod waits to start: whether it exists and holds
// both keys (observation.ts: LicenceSecretCheck). Only the finding is kept, never the Secret's data.
import type * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { MEMBERS, type LicenseServerPair, type Member } from '../api/pair.ts';
import type { KubeWriter } from '../kube/writer.ts';
import type { LicenceSecretCheck } from './observation.ts';

/**
 * A member pod still waiting to start this long after its creation may be waiting for its licence
 * Secret (the kubelet says so only in an Event on the pod): the Secret is read then, and again at
 * most this often while a pod waits. A pod that starts in time costs no read.
 */
const SECRET_CHECK_AFTER_MS = 5_000;
const SECRET_RECHECK_MS = 10_000;

export class LicenceSecretChecks {
  private readonly writer: Pick<KubeWriter, 'readSecret'>;
  private readonly log: Logger;
  private readonly found = new Map<string, { check: LicenceSecretCheck; at: number }>();

  constructor(writer: Pick<KubeWriter, 'readSecret'>, log: Logger) {
    this.writer = writer;
    this.log = log;
  }

  forget(key: string): void {
    this.found.delete(key);
  }

  async check(
    key: string,
    pair: LicenseServerPair,
    pods: Record<Member, k8s.V1Pod | undefined>,
    now: number,
  ): Promise<{ check?: LicenceSecretCheck; recheckAfterMs?: number }> {
    const waitingSince = MEMBERS.map((m) => pods[m])
      .filter((p) => p && !p.metadata?.deletionTimestamp && p.status?.phase === 'Pending')
      .map((p) => Date.parse(String(p!.metadata?.creationTimestamp ?? '')) || now);
    if (waitingSince.length === 0) {
      this.found.delete(key);
      return {};
    }
    const due = Math.min(...waitingSince) + SECRET_CHECK_AFTER_MS;
    if (now < due) return { recheckAfterMs: due - now };
    const cached = this.found.get(key);
    if (cached && now - cached.at < SECRET_RECHECK_MS)
      return { check: cached.check, recheckAfterMs: cached.at + SECRET_RECHECK_MS - now };
    const src = pair.spec.server.license;
    let check: LicenceSecretCheck;
    try {
      const s = await this.writer.readSecret(pair.metadata.namespace, src.secretName);
      const keys = [src.fileKey, src.publicKeyKey].filter((k) => s && s.data?.[k] === undefined);
      check = !s
        ? { state: 'missing' }
        : keys.length > 0
          ? { state: 'missingKeys', keys }
          : { state: 'found' };
    } catch (err) {
      // Unknown is no finding: the pod's own state still shows.
      this.log.debug({ pair: key, problem: (err as Error).message }, 'could not read the licence Secret');
      return { recheckAfterMs: SECRET_RECHECK_MS };
    }
    this.found.set(key, { check, at: now });
    return { check, recheckAfterMs: SECRET_RECHECK_MS };
  }
}
