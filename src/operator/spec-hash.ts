import { createHash } from 'node:crypto';
import type { V1Pod } from '@kubernetes/client-node';
import { stableStringify } from './stable-stringify.ts';

/**
 * Hash of what the pod should be (spec and labels, without the hash annotation itself and without the
 * role label). The reconciler compares it with the annotation on the running pod; on a mismatch it
 * replaces that member's pod (standby first, never both at once).
 */
export function specHash(pod: V1Pod): string {
  const labels = { ...(pod.metadata?.labels ?? {}) };
  const content = { labels, spec: pod.spec };
  return createHash('sha256').update(stableStringify(content)).digest('hex').slice(0, 16);
}
