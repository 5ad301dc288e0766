import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import type { NodeSpec } from './node-spec.ts';

/**
 * Each extra node's kubelet gets a cgroup parent of its own (`/lpo-node-N`), so two kubelets never
 * manage the same `kubepods` tree, and every process of a node's pods can be found (and killed at
 * once, as a power loss does) by that parent. This machine has cgroup v1 (a hybrid layout): the
 * parent is made in every mounted hierarchy, and cpuset's must be given CPUs and memory nodes
 * before anything can join it.
 */

const cgroupFs = '/sys/fs/cgroup';

function hierarchies(): string[] {
  if (existsSync(path.join(cgroupFs, 'cgroup.controllers'))) return [cgroupFs]; // cgroup v2
  return readdirSync(cgroupFs)
    .map((d) => path.join(cgroupFs, d))
    .filter((d) => {
      try {
        return statSync(d).isDirectory() && existsSync(path.join(d, 'cgroup.procs'));
      } catch {
        return false;
      }
    });
}

export function ensureNodeCgroup(node: NodeSpec): void {
  if (node.cgroupRoot === '/') return;
  for (const h of hierarchies()) {
    const dir = path.join(h, node.cgroupRoot);
    mkdirSync(dir, { recursive: true });
    if (path.basename(h) === 'cpuset') {
      for (const f of ['cpuset.cpus', 'cpuset.mems']) {
        if (!readFileSync(path.join(dir, f), 'utf8').trim())
          writeFileSync(path.join(dir, f), readFileSync(path.join(h, f), 'utf8'));
      }
    }
  }
}

/** Pids of every process under the node's cgroup parent: its pods' containers and sandboxes. */
export function nodeCgroupPids(node: NodeSpec): number[] {
  if (node.cgroupRoot === '/') throw new Error(`${node.name} has no cgroup parent of its own`);
  const h = hierarchies().find((d) => d.endsWith('/pids')) ?? hierarchies()[0]!;
  const pids = new Set<number>();
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const line of readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n')) {
      if (line.trim()) pids.add(Number(line));
    }
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(path.join(dir, entry.name));
    }
  };
  walk(path.join(h, node.cgroupRoot));
  return [...pids];
}

/** Removes the node's cgroup trees, deepest first (a cgroup with processes in it stays). */
export function removeNodeCgroup(node: NodeSpec): void {
  if (node.cgroupRoot === '/') return;
  const rm = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) rm(path.join(dir, entry.name));
    }
    try {
      rmdirSync(dir);
    } catch {
      // Busy (a process is still in it) or gone already.
    }
  };
  for (const h of hierarchies()) rm(path.join(h, node.cgroupRoot));
}
