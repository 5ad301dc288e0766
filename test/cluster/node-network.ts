import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { net } from './config.ts';
import type { NodeSpec } from './node-spec.ts';
import { inNodeNet } from './node-spec.ts';

/**
 * The network of the extra nodes. Each lives in a network namespace whose only link is a veth
 * pair into the API server's bridge (`lpo-host0`): its InternalIP on that link, a default route
 * to the machine, and on the machine a route to the node's pod CIDR through it. Pod traffic
 * between nodes is routed, not masqueraded, so a pod's address is the one a NetworkPolicy sees.
 *
 * Taking the host end of that link down is what cuts a node off (a partition, or a lost node):
 * the node's own pods still reach each other and the node, nothing else does.
 */

function ip(args: string[], allowFail = false): string {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0 && !allowFail)
    throw new Error(`ip ${args.join(' ')} failed: ${(r.stderr || '').trim()}`);
  return r.stdout ?? '';
}

/** Writes a sysctl of the node's own network namespace (they are per namespace for net.*). */
function nodeSysctl(node: NodeSpec, key: string, value: string): void {
  const file = `/proc/sys/${key.replace(/\./g, '/')}`;
  if (!node.netns) {
    writeFileSync(file, `${value}\n`);
    return;
  }
  const [bin, args] = inNodeNet(node, 'sh', ['-c', `echo ${value} > ${file}`]);
  const r = spawnSync(bin, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`setting ${key} in ${node.netns} failed: ${r.stderr.trim()}`);
}

/** The machine side: the API server's bridge reaches every node address on the link. */
function ensureHostRoutes(): void {
  const prefix = net.hostIP.split('.').slice(0, 3).join('.');
  ip(['route', 'replace', `${prefix}.0/24`, 'dev', net.hostLink, 'src', net.hostIP]);
}

export function nodeNetworkUp(node: NodeSpec): void {
  if (!node.netns || !node.hostLink) return;
  ensureHostRoutes();
  if (
    !ip(['netns', 'list'])
      .split('\n')
      .some((l) => l.split(' ')[0] === node.netns)
  ) {
    ip(['netns', 'add', node.netns]);
  }
  if (!ip(['link', 'show'], true).includes(`${node.hostLink}@`)) {
    ip(['link', 'add', node.hostLink, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', node.netns]);
  }
  ip(['link', 'set', node.hostLink, 'master', net.hostLink, 'up']);
  ip(['-n', node.netns, 'link', 'set', 'lo', 'up']);
  if (!ip(['-n', node.netns, 'addr', 'show', 'dev', 'eth0']).includes(`${node.ip}/`)) {
    ip(['-n', node.netns, 'addr', 'add', `${node.ip}/24`, 'dev', 'eth0']);
  }
  ip(['-n', node.netns, 'link', 'set', 'eth0', 'up']);
  ip(['-n', node.netns, 'route', 'replace', 'default', 'via', net.hostIP]);
  ip(['route', 'replace', node.podCIDR, 'via', node.ip, 'dev', net.hostLink]);
  nodeSysctl(node, 'net.ipv4.ip_forward', '1');
  nodeSysctl(node, 'net.bridge.bridge-nf-call-iptables', '1');
  nodeSysctl(node, 'net.ipv4.conf.all.route_localnet', '1');
}

/** Deletes the node's namespace (its veth, bridge, routes and packet filter go with it). */
export function nodeNetworkDown(node: NodeSpec): void {
  if (!node.netns) return;
  ip(['route', 'delete', node.podCIDR], true);
  ip(['netns', 'delete', node.netns], true);
  if (node.hostLink) ip(['link', 'delete', node.hostLink], true);
}

/** Every extra node's namespace that exists now (also those of an `up` that crashed). */
export function existingNodeNamespaces(): string[] {
  return ip(['netns', 'list'], true)
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => /^lpo-node-\d+$/.test(n));
}

/** Cuts the node off from the control plane and every other node; its own pods keep their links. */
export function cutNode(node: NodeSpec): void {
  if (!node.hostLink) throw new Error(`${node.name} shares the machine's network and cannot be cut off`);
  ip(['link', 'set', node.hostLink, 'down']);
}

export function healNode(node: NodeSpec): void {
  if (!node.hostLink) return;
  ip(['link', 'set', node.hostLink, 'up']);
  // The link's carrier coming back leaves the routes through it in place, but re-assert them.
  ip(['-n', node.netns!, 'route', 'replace', 'default', 'via', net.hostIP]);
  ip(['route', 'replace', node.podCIDR, 'via', node.ip, 'dev', net.hostLink]);
}

export function nodeIsCut(node: NodeSpec): boolean {
  if (!node.hostLink) return false;
  return !/[<,]UP[,>]/.test(ip(['link', 'show', node.hostLink], true));
}
