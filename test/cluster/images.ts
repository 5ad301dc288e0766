import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cacheDir, k8sVersion, repoRoot } from './config.ts';
import { ctr, pauseImage } from './node.ts';
import { log } from './processes.ts';

/**
 * Container images without an image builder: a root filesystem is assembled in a directory, packed
 * into a single-layer docker-archive (manifest.json + config + layer tar) and imported into the
 * node's containerd. The product images are built from images/*.Dockerfile with buildah
 * (buildah.ts); this builder makes the pause image, the e2e fixture image, and the product images
 * only where buildah is missing (`npm run images -- --builder=local`). Its content is what the
 * Dockerfiles build: the Node 24 binary, the shared libraries `ldd` lists for it, a passwd entry for
 * the non-root user and one bundled program; test/chart/image-build.test.ts compares the two.
 */

export const nonRootUid = 65532;

interface ImageSpec {
  ref: string;
  rootfs: string;
  entrypoint: string[];
  env?: string[];
  user?: string;
  workdir?: string;
  labels?: Record<string, string>;
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** Sorted names, fixed owner and mtime: the same content gives the same archive (and digest). */
function reproducibleTar(outFile: string, dir: string): void {
  execFileSync('tar', [
    '--sort=name',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--mtime=@0',
    '-cf',
    outFile,
    '-C',
    dir,
    '.',
  ]);
}

export function writeDockerArchive(spec: ImageSpec, outFile: string): void {
  const work = mkdtempSync(path.join(os.tmpdir(), 'lpo-image-'));
  try {
    const layer = path.join(work, 'layer.tar');
    reproducibleTar(layer, spec.rootfs);
    const diffId = sha256(readFileSync(layer));
    const config = {
      architecture: 'amd64',
      os: 'linux',
      config: {
        Entrypoint: spec.entrypoint,
        Env: spec.env ?? ['PATH=/usr/local/bin:/usr/bin:/bin'],
        User: spec.user ?? `${nonRootUid}:${nonRootUid}`,
        WorkingDir: spec.workdir ?? '/',
        Labels: spec.labels ?? {},
      },
      rootfs: { type: 'layers', diff_ids: [`sha256:${diffId}`] },
      history: [{ created_by: 'license-pair-operator local image builder' }],
    };
    const configJson = JSON.stringify(config);
    const configName = `${sha256(configJson)}.json`;
    writeFileSync(path.join(work, configName), configJson);
    mkdirSync(path.join(work, diffId));
    execFileSync('mv', [layer, path.join(work, diffId, 'layer.tar')]);
    writeFileSync(
      path.join(work, 'manifest.json'),
      JSON.stringify([{ Config: configName, RepoTags: [spec.ref], Layers: [`${diffId}/layer.tar`] }]),
    );
    mkdirSync(path.dirname(outFile), { recursive: true });
    reproducibleTar(outFile, work);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Imports a docker-archive into one node's containerd (node 1 unless named). */
export function importArchive(file: string, node?: string): void {
  ctr(['images', 'import', '--no-unpack=false', file], { node });
}

export function imageExists(ref: string, node?: string): boolean {
  const full = normalise(ref);
  return ctr(['images', 'ls', '-q'], { allowFail: true, node }).split('\n').includes(full);
}

/** The fully qualified name containerd gives a reference: `a/b:1` is `docker.io/a/b:1`. */
export function normalise(ref: string): string {
  const first = ref.split('/')[0]!;
  if (!ref.includes('/')) return `docker.io/library/${ref}`;
  if (!first.includes('.') && !first.includes(':') && first !== 'localhost') return `docker.io/${ref}`;
  return ref;
}

/** The pause image, built from the pause.c of the pinned Kubernetes source (statically linked). */
export async function ensurePauseImage(node?: string): Promise<void> {
  if (imageExists(pauseImage, node)) return;
  const archive = path.join(cacheDir, 'images', `pause-${k8sVersion}.tar`);
  if (!existsSync(archive)) {
    log('building the pause image from the Kubernetes source');
    const dir = execFileSync('go', ['mod', 'download', '-json', `k8s.io/kubernetes@v${k8sVersion}`], {
      encoding: 'utf8',
      cwd: os.tmpdir(),
      env: { ...process.env, GOFLAGS: '' },
    });
    const modDir = (JSON.parse(dir) as { Dir: string }).Dir;
    const rootfs = mkdtempSync(path.join(os.tmpdir(), 'lpo-pause-'));
    try {
      execFileSync('gcc', [
        '-Os',
        '-static',
        '-Wall',
        '-Werror',
        '-o',
        path.join(rootfs, 'pause'),
        path.join(modDir, 'build/pause/linux/pause.c'),
      ]);
      execFileSync('strip', [path.join(rootfs, 'pause')]);
      writeDockerArchive({ ref: pauseImage, rootfs, entrypoint: ['/pause'] }, archive);
    } finally {
      rmSync(rootfs, { recursive: true, force: true });
    }
  }
  importArchive(archive, node);
  log(`imported ${pauseImage}${node ? ` into ${node}` : ''}`);
}

/** Files of a Node 24 root filesystem: the binary and what the dynamic loader needs for it. */
export function nodeRuntimeFiles(): { from: string; to: string }[] {
  const nodeBin = path.join(repoRoot, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(nodeBin)) throw new Error('node_modules/node/bin/node is missing; run `npm ci` first');
  const files = [{ from: nodeBin, to: '/usr/local/bin/node' }];
  for (const line of execFileSync('ldd', [nodeBin], { encoding: 'utf8' }).split('\n')) {
    const m = /=>\s*(\S+)/.exec(line) ?? /^\s*(\/\S+)/.exec(line);
    if (!m?.[1]) continue;
    const lib = m[1];
    // The loader is asked for by its absolute path (/lib64/...); libraries are found in the
    // multiarch directory, where Debian's loader looks by default.
    const to = lib.startsWith('/lib64/') ? lib : path.join('/lib/x86_64-linux-gnu', path.basename(lib));
    files.push({ from: lib, to });
  }
  return files;
}

export function assembleNodeRootfs(bundleFile: string, bundleName: string): string {
  const rootfs = mkdtempSync(path.join(os.tmpdir(), 'lpo-rootfs-'));
  for (const f of nodeRuntimeFiles()) {
    const dest = path.join(rootfs, f.to);
    mkdirSync(path.dirname(dest), { recursive: true });
    copyFileSync(f.from, dest); // copyFileSync follows symlinks: the image holds real files.
    chmodSync(dest, 0o755);
  }
  execFileSync('strip', ['--strip-debug', path.join(rootfs, 'usr/local/bin/node')]);
  mkdirSync(path.join(rootfs, 'etc'), { recursive: true });
  writeFileSync(
    path.join(rootfs, 'etc/passwd'),
    `root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:${nonRootUid}:${nonRootUid}:nonroot:/home/nonroot:/sbin/nologin\n`,
  );
  writeFileSync(path.join(rootfs, 'etc/group'), `root:x:0:\nnonroot:x:${nonRootUid}:\n`);
  mkdirSync(path.join(rootfs, 'tmp'), { recursive: true, mode: 0o1777 });
  mkdirSync(path.join(rootfs, 'home/nonroot'), { recursive: true });
  mkdirSync(path.join(rootfs, 'app'), { recursive: true });
  copyFileSync(bundleFile, path.join(rootfs, 'app', bundleName));
  return rootfs;
}

/**
 * Bundles a TypeScript entry point into one ESM file with esbuild (run in `cwd`, whose node_modules
 * it resolves against; the paths in the bundle's comments are relative to it).
 */
export function bundle(entry: string, outFile: string, cwd: string = repoRoot): void {
  const esbuild = path.join(repoRoot, 'node_modules', '.bin', 'esbuild');
  const r = spawnSync(
    esbuild,
    [
      entry,
      '--bundle',
      '--platform=node',
      '--target=node24',
      '--format=esm',
      `--outfile=${outFile}`,
      // Some CommonJS dependencies call require(); give the ESM bundle one.
      "--banner:js=import { createRequire as __lpoCreateRequire } from 'node:module'; const require = __lpoCreateRequire(import.meta.url);",
      '--log-level=warning',
    ],
    { stdio: 'inherit', cwd },
  );
  if (r.status !== 0) throw new Error(`esbuild failed for ${entry}`);
}

export interface NodeImage {
  ref: string;
  entry: string;
  /** Built from this Dockerfile with buildah (project-images.ts) when buildah is available. */
  dockerfile?: string;
}

export function buildNodeImage(image: NodeImage, outDir: string): string {
  const work = mkdtempSync(path.join(os.tmpdir(), 'lpo-bundle-'));
  try {
    const bundleFile = path.join(work, 'main.mjs');
    bundle(path.join(repoRoot, image.entry), bundleFile);
    const rootfs = assembleNodeRootfs(bundleFile, 'main.mjs');
    try {
      const file = path.join(outDir, `${image.ref.replace(/[/:]/g, '_')}.tar`);
      writeDockerArchive(
        {
          ref: image.ref,
          rootfs,
          entrypoint: ['/usr/local/bin/node', '/app/main.mjs'],
          env: ['PATH=/usr/local/bin', 'NODE_ENV=production'],
        },
        file,
      );
      return file;
    } finally {
      rmSync(rootfs, { recursive: true, force: true });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
