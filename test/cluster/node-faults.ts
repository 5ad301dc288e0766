import { existsSync } from 'node:fs';
import { shimPids } from './host-shell.ts';
import { networkPolicyUp, processName as networkPolicyProcess } from './network-policy.ts';
import { nodeCgroupPids } from './node-cgroups.ts';
import { cutNode, healNode } from './node-network.ts';
import type { NodeSpec } from './node-spec.ts';
import { nodeSpecByName, processName } from './node-spec.ts';
import { configuredNodeCount, nodeComponents, startNode } from './node.ts';
import { log, pidFile, runningPid, sleep } from './processes.ts';

/**
 * Node-level faults on the multi-node bed, as a data centre has them:
 * - power loss: the node's link goes first (a node without power sends nothing: no FIN, no RST),
 *   then every process of the node dies at once: kubelet, containerd, its shims, kube-proxy, the
 *   NetworkPolicy engine and every process of its pods (found by the node's cgroup parent);
 * - power return: the link comes back and the node's daemons start again, so the kubelet finds
 *   its pods dead and starts them anew, as after a reboot;
 * - partition: only the link goes; everything on the node keeps running, and its own pods (the
 *   clients on its side) still reach each other and the node.
 * Node 1 shares the machine's network and processes, so it cannot be failed this way.
 */

function extraNode(name: string): NodeSpec {
  const node = nodeSpecByName(name);
  if (!node || node.index === 1 || node.index > configuredNodeCount())
    throw new Error(`${name} is not one of the extra nodes of the running cluster (lpo-node-2 …)`);
  return node;
}

export async function powerOff(name: string): Promise<void> {
  const node = extraNode(name);
  cutNode(node);
  const daemons = [...nodeComponents.map((c) => processName(node, c)), networkPolicyProcess(node)]
    .map((p) => runningPid(p))
    .filter((p): p is number => p !== undefined);
  const victims = new Set([...daemons, ...shimPids(node.containerdSocket), ...nodeCgroupPids(node)]);
  for (const pid of victims) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  // Processes in a cgroup can only be reaped by their parent; wait until none is left running.
  for (let i = 0; i < 50 && nodeCgroupPids(node).length; i++) await sleep(100);
  log(`${name}: power lost (${victims.size} processes killed, link down)`);
}

export async function powerOn(name: string): Promise<void> {
  const node = extraNode(name);
  healNode(node);
  await startNode(node, configuredNodeCount() === 1);
  if (existsSync(pidFile(networkPolicyProcess(node)))) await networkPolicyUp(node);
  log(`${name}: power back, node Ready`);
}

export function partitionNode(name: string): void {
  cutNode(extraNode(name));
  log(`${name}: cut off from the control plane and the other nodes`);
}

export function healPartition(name: string): void {
  healNode(extraNode(name));
  log(`${name}: link back`);
}
