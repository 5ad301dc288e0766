import type * as k8s from '@kubernetes/client-node';

/**
 * What the operator's caches keep of each object (client-go's informer transforms). At a thousand
 * pairs the caches hold some 7,000 objects; kept whole, `managedFields` alone (one nested object per
 * field path) and the pod specs are most of the operator's memory. The reconciler reads only the
 * fields kept here; an object is never written back from the cache, so nothing is lost.
 */

/** The metadata a cached object keeps: identity, labels, annotations and lifecycle. */
export function slimMetadata(m: k8s.V1ObjectMeta | undefined): k8s.V1ObjectMeta {
  if (!m) return {};
  const out: k8s.V1ObjectMeta = {};
  if (m.name !== undefined) out.name = m.name;
  if (m.namespace !== undefined) out.namespace = m.namespace;
  if (m.uid !== undefined) out.uid = m.uid;
  if (m.resourceVersion !== undefined) out.resourceVersion = m.resourceVersion;
  if (m.generation !== undefined) out.generation = m.generation;
  if (m.creationTimestamp !== undefined) out.creationTimestamp = m.creationTimestamp;
  if (m.deletionTimestamp !== undefined) out.deletionTimestamp = m.deletionTimestamp;
  if (m.deletionGracePeriodSeconds !== undefined)
    out.deletionGracePeriodSeconds = m.deletionGracePeriodSeconds;
  if (m.labels !== undefined) out.labels = m.labels;
  if (m.annotations !== undefined) out.annotations = withoutLastApplied(m.annotations);
  if (m.ownerReferences !== undefined) out.ownerReferences = m.ownerReferences;
  if (m.finalizers !== undefined) out.finalizers = m.finalizers;
  return out;
}

// `kubectl apply` stores the whole object again in this annotation; nothing here reads it.
function withoutLastApplied(a: Record<string, string>): Record<string, string> {
  if (!('kubectl.kubernetes.io/last-applied-configuration' in a)) return a;
  const { 'kubectl.kubernetes.io/last-applied-configuration': _dropped, ...rest } = a;
  return rest;
}

/** The whole object without `metadata.managedFields` (for the pairs themselves: the reconciler parses all of it). */
export function withoutManagedFields<T extends k8s.KubernetesObject>(obj: T): T {
  return { ...obj, metadata: slimMetadata(obj.metadata) };
}

/**
 * A child the operator owns (Service, PDB, NetworkPolicy, PVC): only whether it exists, its uid and
 * the hash of what was applied (an annotation) are read.
 */
export function metadataOnly<T extends k8s.KubernetesObject>(obj: T): T {
  const out = { metadata: slimMetadata(obj.metadata) } as T;
  if (obj.apiVersion !== undefined) out.apiVersion = obj.apiVersion;
  if (obj.kind !== undefined) out.kind = obj.kind;
  return out;
}

/** A member pod: where it runs and what the kubelet reports (the failover decision's inputs). */
export function slimPod(pod: k8s.V1Pod): k8s.V1Pod {
  const out: k8s.V1Pod = { metadata: slimMetadata(pod.metadata) };
  if (pod.apiVersion !== undefined) out.apiVersion = pod.apiVersion;
  if (pod.kind !== undefined) out.kind = pod.kind;
  // The image names the cause when it cannot be pulled.
  const containers = (pod.spec?.containers ?? []).map((c) => ({ name: c.name, image: c.image }));
  if (pod.spec)
    out.spec = { ...(pod.spec.nodeName !== undefined ? { nodeName: pod.spec.nodeName } : {}), containers };
  const st = pod.status;
  if (st) {
    const status: k8s.V1PodStatus = {};
    if (st.phase !== undefined) status.phase = st.phase;
    if (st.podIP !== undefined) status.podIP = st.podIP;
    if (st.podIPs !== undefined) status.podIPs = st.podIPs;
    if (st.conditions !== undefined)
      status.conditions = st.conditions.map((c) => ({
        type: c.type,
        status: c.status,
        ...(c.lastTransitionTime !== undefined ? { lastTransitionTime: c.lastTransitionTime } : {}),
        // The scheduler's word on an unschedulable pod is the cause a user needs.
        ...(c.type === 'PodScheduled' && c.status === 'False'
          ? { ...(c.reason ? { reason: c.reason } : {}), ...(c.message ? { message: c.message } : {}) }
          : {}),
      }));
    if (st.containerStatuses !== undefined)
      status.containerStatuses = st.containerStatuses.map((c) => ({
        name: c.name,
        ready: c.ready,
        restartCount: c.restartCount,
        image: '',
        imageID: '',
        ...(c.state !== undefined ? { state: c.state } : {}),
        ...(c.lastState !== undefined ? { lastState: c.lastState } : {}),
      }));
    out.status = status;
  }
  return out;
}

/** A node: its name and Ready condition. */
export function slimNode(node: k8s.V1Node): k8s.V1Node {
  const out: k8s.V1Node = { metadata: slimMetadata(node.metadata) };
  if (node.apiVersion !== undefined) out.apiVersion = node.apiVersion;
  if (node.kind !== undefined) out.kind = node.kind;
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready)
    out.status = {
      conditions: [
        {
          type: ready.type,
          status: ready.status,
          ...(ready.lastTransitionTime !== undefined ? { lastTransitionTime: ready.lastTransitionTime } : {}),
        },
      ],
    };
  return out;
}
