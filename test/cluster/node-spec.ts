import path from 'node:path';
import { clusterDir, dataDir, net, nodeName, runDir } from './config.ts';

/**
 * Where each real node of the local cluster lives and which addresses it has. Node 1 runs in the
 * machine's own network namespace (as the one-node cluster always did, so its paths are
 * unchanged); every further node gets a network namespace of its own, joined to the API server's
 * bridge by a veth pair, plus its own containerd, kubelet and kube-proxy, root directories,
 * cgroup parent and pod CIDR. Everything here is derived from the node's index alone, so `down`
 * can find what an `up` made even after a crash.
 */

export const maxNodes = 9;

export type NodeComponent = 'containerd' | 'kubelet' | 'kube-proxy';

export interface NodeSpec {
  index: number;
  name: string;
  /** The node's InternalIP: the API server's address for node 1, its own veth address otherwise. */
  ip: string;
  podCIDR: string;
  /** The node's `topology.kubernetes.io/zone` label. */
  zone: string;
  /** The node's network namespace under /run/netns; undefined for node 1 (the machine's own). */
  netns?: string;
  /** The host end of the veth pair that is the node's only link to the others. */
  hostLink?: string;
  /** The kubelet's cgroup root: `/` for node 1, a parent of its own for the others. */
  cgroupRoot: string;
  containerdRoot: string;
  /** containerd's state dir holds sockets whose paths must stay short (108 bytes), so it is in /run. */
  containerdState: string;
  containerdSocket: string;
  cniConfDir: string;
  cniIpamDir: string;
  kubeletRoot: string;
  kubeletCertDir: string;
  /** undefined: the kubelet's default (/var/log/pods), which node 1 keeps. */
  podLogsDir?: string;
  /** Where this node's generated config files go. */
  configDir: string;
  /** The names of the node's client and serving certificates in the cluster PKI. */
  kubeletClientCert: string;
  kubeletServingCert: string;
}

function addressPrefix(): string {
  const octets = net.hostIP.split('.');
  if (octets.length !== 4 || octets[3] !== '1')
    throw new Error(`more than one node needs the API server's address to end in .1 (it is ${net.hostIP})`);
  return octets.slice(0, 3).join('.');
}

export function nodeSpec(index: number): NodeSpec {
  if (!Number.isInteger(index) || index < 1 || index > maxNodes)
    throw new Error(`node index must be 1..${maxNodes}, got ${index}`);
  const zone = `zone-${String.fromCharCode('a'.charCodeAt(0) + index - 1)}`;
  if (index === 1) {
    return {
      index,
      name: nodeName,
      ip: net.hostIP,
      podCIDR: net.podCIDR,
      zone,
      cgroupRoot: '/',
      containerdRoot: path.join(dataDir, 'containerd'),
      containerdState: '/run/lpo-containerd',
      containerdSocket: path.join(runDir, 'containerd.sock'),
      cniConfDir: path.join(clusterDir, 'cni', 'net.d'),
      cniIpamDir: path.join(dataDir, 'cni-ipam'),
      kubeletRoot: path.join(dataDir, 'kubelet'),
      kubeletCertDir: path.join(dataDir, 'kubelet-pki'),
      configDir: clusterDir,
      kubeletClientCert: 'kubelet',
      kubeletServingCert: 'kubelet-serving',
    };
  }
  const name = `lpo-node-${index}`;
  const base = path.join(clusterDir, 'nodes', name);
  return {
    index,
    name,
    ip: `${addressPrefix()}.${index}`,
    podCIDR: `10.244.${index - 1}.0/24`,
    zone,
    netns: name,
    hostLink: `lpo-veth${index}`,
    cgroupRoot: `/${name}`,
    containerdRoot: path.join(base, 'containerd'),
    containerdState: `/run/lpo-containerd-${index}`,
    containerdSocket: path.join(runDir, `containerd-${index}.sock`),
    cniConfDir: path.join(base, 'cni', 'net.d'),
    cniIpamDir: path.join(base, 'cni-ipam'),
    kubeletRoot: path.join(base, 'kubelet'),
    kubeletCertDir: path.join(base, 'kubelet-pki'),
    podLogsDir: path.join(base, 'pod-logs'),
    configDir: base,
    kubeletClientCert: `kubelet-${name}`,
    kubeletServingCert: `kubelet-serving-${name}`,
  };
}

/** The pid-file name of one of a node's processes: node 1 keeps the names it always had. */
export function processName(node: NodeSpec, component: NodeComponent): string {
  return node.index === 1 ? component : `${component}-${node.name}`;
}

/** The argv prefix that runs a command inside the node's network namespace (and no other). */
export function inNodeNet(
  node: { netns?: string | undefined },
  bin: string,
  args: string[],
): [string, string[]] {
  if (!node.netns) return [bin, args];
  return ['nsenter', [`--net=/run/netns/${node.netns}`, '--', bin, ...args]];
}

export function nodeSpecs(count: number): NodeSpec[] {
  return Array.from({ length: count }, (_, i) => nodeSpec(i + 1));
}

export function nodeSpecByName(name: string): NodeSpec | undefined {
  const m = /^lpo-node-(\d+)$/.exec(name);
  return m ? nodeSpec(Number(m[1])) : undefined;
}

/** `--nodes N` or `--nodes=N` among command-line arguments; undefined when absent. */
export function nodesFlag(args: string[]): number | undefined {
  const i = args.findIndex((a) => a === '--nodes' || a.startsWith('--nodes='));
  if (i < 0) return undefined;
  const value = args[i]!.includes('=') ? args[i]!.split('=')[1] : args[i + 1];
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`--nodes needs a whole number of nodes, got ${value ?? 'nothing'}`);
  return n;
}

/**
 * A pod affinity that keeps a workload off lpo-node-1, which shares the machine's network and
 * processes and so cannot be failed: where the multi-node tests, the demo and the benchmark put
 * the members (the operator stays on lpo-node-1).
 */
export const offFirstNode = {
  nodeAffinity: {
    requiredDuringSchedulingIgnoredDuringExecution: {
      nodeSelectorTerms: [
        { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'NotIn', values: [nodeName] }] },
      ],
    },
  },
};

/** The operator chart's `--set` that keeps the operator pods on lpo-node-1 (see offFirstNode). */
export const operatorOnFirstNode = `nodeSelector.kubernetes\\.io/hostname=${nodeName}`;
