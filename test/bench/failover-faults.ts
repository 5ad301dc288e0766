import { spawn } from 'node:child_process';
import { kubeconfigPath } from '../cluster/config.ts';
import { healPartition, partitionNode, powerOff, powerOn } from '../cluster/node-faults.ts';
import { containerHostPid, killContainer } from '../cluster/node.ts';
import { must, tool } from '../chart/lib.ts';

/**
 * The faults of the failover benchmark, injected into the live member (or the single server):
 *   pod-deleted      its pod is deleted
 *   container-killed its container is killed (ctr tasks kill --signal SIGKILL)
 *   process-hung     its process is stopped (kill -STOP on its host pid), resumed after
 *   pod-partitioned  its pod is cut off (iptables in its network namespace) from its peer and
 *                    the operator's pods, while clients from the node still reach it
 *   node-lost        its node loses power (kubelet, containerd, every process of its pods; the
 *                    node's link first), powered on again after
 *   node-partitioned its node is cut off from the control plane and the other nodes
 * The node faults need the multi-node bed (`cluster up --nodes 3`), with the pod on an extra node.
 */
export const POD_FAULTS = ['pod-deleted', 'container-killed', 'process-hung', 'pod-partitioned'] as const;
export const NODE_FAULTS = ['node-lost', 'node-partitioned'] as const;
export const FAULTS = [...POD_FAULTS, ...NODE_FAULTS] as const;
export type Fault = (typeof FAULTS)[number];

export const isNodeFault = (f: Fault) => (NODE_FAULTS as readonly string[]).includes(f);
/** A partition has no meaning for one server without a peer. */
export const isPartition = (f: Fault) => f === 'pod-partitioned' || f === 'node-partitioned';
/**
 * Faults the platform reports to the operator (the pod's deletion, the container's termination):
 * decided on the report, not bounded by the health check. The others are silent: only a failed
 * check and the standby's silence tell (silentFaultBoundMs).
 */
export const reportedByPlatform = (f: Fault) => f === 'pod-deleted' || f === 'container-killed';

export interface FaultTarget {
  name: string;
  containerId?: string;
  nodeName?: string;
}

/**
 * Injects the fault; returns the time of the fault and what undoes it (a hang, a partition, a
 * lost node). `cut`: the addresses a pod partition drops (the peer's and the operator's).
 */
export async function inject(
  fault: Fault,
  ns: string,
  pod: FaultTarget,
  cut: string[] = [],
): Promise<{ at: number; resume: () => Promise<void> }> {
  if (isNodeFault(fault)) {
    const node = pod.nodeName;
    if (!node) throw new Error(`${pod.name} is not on a node`);
    const at = Date.now();
    if (fault === 'node-lost') {
      await powerOff(node);
      return { at, resume: () => powerOn(node) };
    }
    partitionNode(node);
    return { at, resume: async () => healPartition(node) };
  }
  if (!pod.containerId) throw new Error(`${pod.name} has no container`);
  if (fault === 'pod-partitioned') {
    const netPid = String(containerHostPid(pod.containerId, pod.nodeName));
    const inPod = (a: string[]) => must('nsenter', ['-t', netPid, '-n', 'iptables', '-w', ...a]);
    const at = Date.now();
    for (const ip of cut) {
      inPod(['-I', 'INPUT', '-s', ip, '-j', 'DROP']);
      inPod(['-I', 'OUTPUT', '-d', ip, '-j', 'DROP']);
    }
    return {
      at,
      resume: async () => {
        inPod(['-F', 'INPUT']);
        inPod(['-F', 'OUTPUT']);
      },
    };
  }
  const pid = fault === 'process-hung' ? containerHostPid(pod.containerId, pod.nodeName) : 0;
  const at = Date.now();
  if (fault === 'pod-deleted') {
    // Asynchronous so the call's own duration is not part of the measurement setup.
    spawn(
      tool('kubectl'),
      ['--kubeconfig', kubeconfigPath, 'delete', 'pod', pod.name, '-n', ns, '--wait=false'],
      {
        stdio: 'ignore',
      },
    );
  } else if (fault === 'container-killed') {
    killContainer(pod.containerId, pod.nodeName);
  } else {
    process.kill(pid, 'SIGSTOP');
  }
  return {
    at,
    resume: async () => {
      if (pid)
        try {
          process.kill(pid, 'SIGCONT');
        } catch {
          // Already gone (killed by the kubelet or the pod deleted).
        }
    },
  };
}
