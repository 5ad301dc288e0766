import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildDepsStage,
  buildDockerfile,
  buildah,
  buildahAvailable,
  ensureBuildBase,
  exportDockerArchive,
  ociArgs,
  pruneDangling,
} from '../cluster/buildah.ts';
import { assembleNodeRootfs, bundle } from '../cluster/images.ts';
import { projectImages, version } from '../cluster/project-images.ts';
import { repoRoot } from './lib.ts';

// The two product images built from images/*.Dockerfile with buildah, as `npm run images` does, from a
// copy of the build context (so edits made while the test runs cannot change its inputs). Checked:
// the OCI labels, user 65532, the entrypoint, the same files as the local builder (images.ts), the
// node binary starting in the image under buildah's OCI runtime, and a fresh build (no cache at all,
// `npm ci` included) giving the same image ID and the same archive bytes as the first.
//
// Cost on the 2-core machine, with the build-stage base and the `npm ci` stage cached: about 35 s for
// the copy, the two builds and the checks, plus about 55 s for the fresh build (`npm ci` is most of
// it). The first run on a machine also builds the base (debootstrap, about 45 s) and the `npm ci`
// stage (about 50 s).

const available = buildahAvailable();
const products = projectImages.filter((i) => i.dockerfile);
const testRepo = 'lpo.local/image-build-test';
const entrypoint = ['/usr/local/bin/node', '/app/main.mjs'];
const revision = 'image-build-test';

interface DockerConfig {
  config: {
    User?: string;
    Entrypoint?: string[];
    Env?: string[];
    WorkingDir?: string;
    Labels?: Record<string, string>;
  };
  rootfs: { diff_ids: string[] };
}

interface Built {
  name: string;
  entry: string;
  ref: string;
  id: string;
  archive: string;
  config: DockerConfig;
  /** The image's single layer, unpacked. */
  rootfs: string;
}

const work = mkdtempSync(path.join(os.tmpdir(), 'lpo-image-build-test-'));
const context = path.join(work, 'context');
const built = new Map<string, Built>();
let base = '';

function sha256File(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** Path → "dir <mode>" | "file <mode> <sha256>" | "link <target>", as tar would record it. */
function tree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const full = path.join(dir, name);
      const st = lstatSync(full);
      const rel = '/' + path.relative(root, full);
      if (st.isDirectory()) {
        out.set(rel + '/', `dir ${(st.mode & 0o7777).toString(8)}`);
        walk(full);
      } else if (st.isSymbolicLink()) {
        out.set(rel, 'link');
      } else {
        const hash = createHash('sha256').update(readFileSync(full)).digest('hex').slice(0, 16);
        out.set(rel, `file ${(st.mode & 0o7777).toString(8)} ${hash}`);
      }
    }
  };
  walk(root);
  return out;
}

function readArchive(archive: string, into: string): { config: DockerConfig; rootfs: string } {
  mkdirSync(into, { recursive: true });
  execFileSync('tar', ['-xf', archive, '-C', into]);
  const manifest = JSON.parse(readFileSync(path.join(into, 'manifest.json'), 'utf8')) as {
    Config: string;
    RepoTags: string[];
    Layers: string[];
  }[];
  expect(manifest).toHaveLength(1);
  const config = JSON.parse(readFileSync(path.join(into, manifest[0]!.Config), 'utf8')) as DockerConfig;
  expect(manifest[0]!.Layers).toHaveLength(1);
  const rootfs = path.join(into, 'rootfs');
  mkdirSync(rootfs);
  execFileSync('tar', ['-xf', path.join(into, manifest[0]!.Layers[0]!), '-C', rootfs]);
  return { config, rootfs };
}

function options(): { buildArgs: Record<string, string>; labels: Record<string, string> } {
  const oci = ociArgs(version, revision);
  return { buildArgs: { BUILD_BASE: base, ...oci.buildArgs }, labels: oci.labels };
}

// Without buildah this file fails (it does not pass by skipping): .ci/run installs it.
describe('the image builder', () => {
  it('buildah is there to build the images with', () => {
    expect(
      available.ok,
      `needs buildah: ${available.why ?? ''} (apt-get install buildah debootstrap debian-archive-keyring)`,
    ).toBe(true);
  });
});

// Not run without buildah: the test above has failed already and says why.
describe.skipIf(!available.ok)('images built from the Dockerfiles with buildah', () => {
  beforeAll(() => {
    // The build context the .dockerignore files allow, copied; node_modules (outside the context,
    // for the local builder's esbuild only) as hard links.
    mkdirSync(context);
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'src', 'images']) {
      cpSync(path.join(repoRoot, f), path.join(context, f), { recursive: true });
    }
    const nodeModules = [path.join(repoRoot, 'node_modules'), path.join(context, 'node_modules')];
    try {
      execFileSync('cp', ['-al', ...nodeModules], { stdio: 'ignore' });
    } catch {
      rmSync(nodeModules[1]!, { recursive: true, force: true });
      execFileSync('cp', ['-a', ...nodeModules]); // another file system than the checkout's
    }
    base = ensureBuildBase();
    buildDepsStage(products[0]!.dockerfile!, base, { context, quiet: true });
    for (const image of products) {
      const name = image.ref.split('/')[1]!.split(':')[0]!;
      const ref = `${testRepo}/${name}:${version}`;
      const id = buildDockerfile({ dockerfile: image.dockerfile!, context, ref, ...options(), quiet: true });
      const archive = path.join(work, `${name}.tar`);
      exportDockerArchive(ref, archive);
      built.set(name, {
        name,
        entry: image.entry,
        ref,
        id,
        archive,
        ...readArchive(archive, path.join(work, name)),
      });
    }
  }, 600_000);

  afterAll(() => {
    for (const b of built.values()) buildah(['rmi', b.ref], { allowFail: true });
    pruneDangling();
    rmSync(work, { recursive: true, force: true });
  });

  it('builds both product images', () => {
    expect([...built.keys()].sort()).toEqual(['license-server', 'operator']);
  });

  for (const name of ['operator', 'license-server']) {
    it(`${name}: OCI labels, user 65532, entrypoint, environment`, () => {
      const b = built.get(name)!;
      const c = b.config.config;
      expect(c.User).toBe('65532:65532');
      expect(c.Entrypoint).toEqual(entrypoint);
      expect(c.WorkingDir).toBe('/');
      expect(c.Env).toEqual(['PATH=/usr/local/bin', 'NODE_ENV=production']);
      expect(c.Labels).toMatchObject({
        'org.opencontainers.image.title': `license-pair-operator ${name}`,
        'org.opencontainers.image.version': version,
        'org.opencontainers.image.revision': revision,
        'org.opencontainers.image.licenses': 'Apache-2.0',
      });
      expect(Object.keys(c.Labels ?? {})).toEqual(
        expect.arrayContaining(['org.opencontainers.image.source', 'org.opencontainers.image.description']),
      );
      expect(b.config.rootfs.diff_ids).toHaveLength(1);
    });

    it(`${name}: the same files as the local builder`, () => {
      const b = built.get(name)!;
      const bundleFile = path.join(work, `${name}-local.mjs`);
      bundle(path.join(context, b.entry), bundleFile, context);
      const local = assembleNodeRootfs(bundleFile, 'main.mjs');
      try {
        const image = tree(b.rootfs);
        const mine = tree(local);
        const files = (t: Map<string, string>) => [...t].filter(([k]) => !k.endsWith('/'));
        // Same paths; the local builder leaves directory modes to the umask, so only files are compared
        // by mode. Same contents, except the shared libraries: the image's come from the build stage's
        // Debian (the base), the local builder's from the host; both are Debian bookworm's.
        const libs = (k: string) => k.startsWith('/lib/') || k.startsWith('/lib64/');
        const withoutHash = (v: string) => v.split(' ').slice(0, 2).join(' ');
        expect(files(image).map(([k, v]) => [k, libs(k) ? withoutHash(v) : v])).toEqual(
          files(mine).map(([k, v]) => [k, libs(k) ? withoutHash(v) : v]),
        );
        expect([...image.keys()]).toEqual(
          expect.arrayContaining(['/tmp/', '/home/nonroot/', '/app/main.mjs']),
        );
        expect(image.get('/tmp/')).toBe('dir 1777');
        expect(readFileSync(path.join(b.rootfs, 'etc/passwd'), 'utf8')).toContain(
          'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin',
        );
      } finally {
        rmSync(local, { recursive: true, force: true });
      }
    });

    it(`${name}: node starts in the image (buildah run, OCI runtime, as the image's user) and parses the bundle`, () => {
      const b = built.get(name)!;
      const container = buildah([
        'from',
        '--pull=never',
        '--name',
        `lpo-image-build-test-${name}-${process.pid}`,
        b.ref,
      ]);
      // The image's node, offline, in the container made from the image.
      const node = (args: string[]) =>
        buildah(['run', '--network', 'none', container, '--', '/usr/local/bin/node', ...args]);
      try {
        const out = node([
          '-e',
          'console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), version: process.version }))',
        ]);
        expect(JSON.parse(out)).toEqual({ uid: 65532, gid: 65532, version: expect.stringMatching(/^v24\./) });
        node(['--check', '/app/main.mjs']);
      } finally {
        buildah(['rm', container], { allowFail: true });
      }
    });
  }

  it('a fresh build (no cache, npm ci included) gives the same image ID and archive bytes', () => {
    const first = built.get('operator')!;
    const image = products.find((i) => i.ref.includes('/operator:'))!;
    buildah(['rmi', first.ref]);
    const id = buildDockerfile({
      dockerfile: image.dockerfile!,
      context,
      ref: first.ref,
      ...options(),
      noCache: true,
      quiet: true,
    });
    const archive = path.join(work, 'operator-again.tar');
    exportDockerArchive(first.ref, archive);
    expect(id).toBe(first.id);
    expect(sha256File(archive)).toBe(sha256File(first.archive));
  }, 300_000);
});
