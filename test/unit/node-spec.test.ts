import { describe, expect, it } from 'vitest';
import {
  inNodeNet,
  maxNodes,
  nodeSpec,
  nodeSpecByName,
  nodeSpecs,
  nodesFlag,
  processName,
} from '../../test/cluster/node-spec.ts';

// The multi-node bed derives every name, address and path of a node from its index; two nodes
// sharing any of them would fight over it (a socket, a cgroup, a route) on the one machine.
describe('local cluster node specs', () => {
  const all = nodeSpecs(maxNodes);

  it('node 1 keeps the one-node bed’s names and the machine’s network', () => {
    const n = nodeSpec(1);
    expect(n.name).toBe('lpo-node-1');
    expect(n.netns).toBeUndefined();
    expect(n.cgroupRoot).toBe('/');
    expect(processName(n, 'kubelet')).toBe('kubelet');
    expect(inNodeNet(n, 'kubelet', ['--v=1'])).toEqual(['kubelet', ['--v=1']]);
  });

  it('extra nodes run in their own network namespace under their own cgroup parent', () => {
    const n = nodeSpec(3);
    expect(n).toMatchObject({
      name: 'lpo-node-3',
      netns: 'lpo-node-3',
      cgroupRoot: '/lpo-node-3',
      zone: 'zone-c',
    });
    expect(processName(n, 'containerd')).toBe('containerd-lpo-node-3');
    expect(inNodeNet(n, 'kubelet', ['--v=1'])).toEqual([
      'nsenter',
      ['--net=/run/netns/lpo-node-3', '--', 'kubelet', '--v=1'],
    ]);
  });

  it('no two nodes share a name, address, pod CIDR, zone, socket, directory or cgroup', () => {
    for (const key of [
      'name',
      'ip',
      'podCIDR',
      'zone',
      'containerdSocket',
      'containerdState',
      'containerdRoot',
      'kubeletRoot',
      'cniConfDir',
      'cniIpamDir',
      'cgroupRoot',
      'kubeletClientCert',
    ] as const) {
      expect(new Set(all.map((n) => n[key])).size, key).toBe(all.length);
    }
    expect(new Set(all.flatMap((n) => (n.hostLink ? [n.hostLink] : []))).size).toBe(all.length - 1);
  });

  it('pod CIDRs lie in the cluster CIDR 10.244.0.0/16 and node addresses beside the API server’s', () => {
    for (const n of all) {
      expect(n.podCIDR).toMatch(/^10\.244\.\d+\.0\/24$/);
      expect(n.ip.split('.').slice(0, 3).join('.')).toBe(nodeSpec(1).ip.split('.').slice(0, 3).join('.'));
    }
  });

  it('containerd socket paths fit a unix socket address (108 bytes) with its ttrpc suffix', () => {
    for (const n of all) expect(Buffer.byteLength(`${n.containerdSocket}.ttrpc`)).toBeLessThan(108);
  });

  it('finds a node by name, and refuses indexes outside 1..maxNodes', () => {
    expect(nodeSpecByName('lpo-node-2')?.index).toBe(2);
    expect(nodeSpecByName('worker-2')).toBeUndefined();
    expect(() => nodeSpec(0)).toThrow(/1\.\./);
    expect(() => nodeSpec(maxNodes + 1)).toThrow(/1\.\./);
  });

  it('reads --nodes N and --nodes=N, and refuses what is not a whole number', () => {
    expect(nodesFlag(['up', '--nodes', '3'])).toBe(3);
    expect(nodesFlag(['--nodes=2', '--network-policy'])).toBe(2);
    expect(nodesFlag(['up', '--node'])).toBeUndefined();
    expect(() => nodesFlag(['--nodes'])).toThrow(/got nothing/);
    expect(() => nodesFlag(['--nodes', 'two'])).toThrow(/whole number/);
  });
});
