import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cacheDir, repoRoot } from './config.ts';
import { log } from './processes.ts';

/**
 * Images built from images/*.Dockerfile with buildah (Debian's package; no daemon, no registry).
 *
 * The Dockerfiles' build stage is `FROM ${BUILD_BASE}` (default node:24-bookworm, which cannot be
 * pulled here). The local stand-in is assembled once from parts this machine can get: a Debian
 * bookworm root filesystem from debootstrap (the host's configured Debian mirror), the project's
 * pinned Node 24 binary (node_modules/node) and npm from the npm registry. It is kept in buildah's
 * storage under the project cache (outside the checkout), keyed by its recipe, so a fresh clone
 * reuses it.
 *
 * The build stage runs `npm ci` against the npm registry (`--network host`: the host's resolver and
 * the host's trusted CAs, which the base carries), exactly as `docker build` does. The Dockerfiles'
 * `deps` stage is built first and tagged, so buildah's layer cache (`--layers`) keeps it while only
 * the sources change, and a warm build does not run `npm ci` again.
 */

export const buildahStorage = path.join(cacheDir, 'buildah', 'storage');
/** Locks and mount state, one directory per storage (transient, so under /run). */
const buildahRunRoot =
  process.env.LPO_BUILDAH_RUNROOT ??
  `/run/license-pair-operator/buildah-${createHash('sha256').update(buildahStorage).digest('hex').slice(0, 8)}`;

/** Bookworm, as node:24-bookworm. */
const debianSuite = 'bookworm';
/** npm for the build stage (node:24-bookworm ships the npm of its Node release). */
const npmVersion = '11.19.1';
/** Bumped when the recipe below changes, so the cached base is rebuilt. */
const baseRecipe = 'lpo-node-build-1';
const debootstrapPackages = ['binutils', 'ca-certificates'];

export function buildahAvailable(): { ok: boolean; why?: string } {
  if (process.getuid?.() !== 0) return { ok: false, why: 'not root (buildah runs rootful here)' };
  for (const tool of ['buildah', 'debootstrap']) {
    if (spawnSync(tool, ['--version'], { stdio: 'ignore' }).status !== 0) {
      return { ok: false, why: `${tool} is not installed (apt-get install buildah debootstrap)` };
    }
  }
  return { ok: true };
}

function globalArgs(): string[] {
  return ['--root', buildahStorage, '--runroot', buildahRunRoot, '--storage-driver', 'overlay'];
}

export function buildah(args: string[], opts: { allowFail?: boolean; inherit?: boolean } = {}): string {
  mkdirSync(buildahStorage, { recursive: true });
  const r = spawnSync('buildah', [...globalArgs(), ...args], {
    encoding: 'utf8',
    stdio: opts.inherit ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0 && !opts.allowFail) {
    throw new Error(`buildah ${args.slice(0, 2).join(' ')} failed (${r.status}): ${r.stderr ?? ''}`.trim());
  }
  return r.status === 0 ? (r.stdout ?? '').trim() : '';
}

export function imageId(ref: string): string | undefined {
  const out = buildah(['inspect', '--type', 'image', '--format', '{{.FromImageID}}', ref], {
    allowFail: true,
  });
  return out || undefined;
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** The host's own CA certificates (Debian's place for them): the build reaches the registry as the host does. */
function hostLocalCAs(): { name: string; pem: Buffer }[] {
  const dir = '/usr/local/share/ca-certificates';
  if (!existsSync(dir)) return [];
  const out: { name: string; pem: Buffer }[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(d, name.name);
      if (name.isDirectory()) walk(full);
      else if (name.name.endsWith('.crt'))
        out.push({ name: path.relative(dir, full), pem: readFileSync(full) });
    }
  };
  walk(dir);
  return out;
}

/** The configured Debian mirror (apt sources), for debootstrap; LPO_DEBIAN_MIRROR overrides. */
export function debianMirror(): string {
  if (process.env.LPO_DEBIAN_MIRROR) return process.env.LPO_DEBIAN_MIRROR;
  const files = ['/etc/apt/sources.list'];
  const dir = '/etc/apt/sources.list.d';
  if (existsSync(dir)) files.push(...readdirSync(dir).map((f) => path.join(dir, f)));
  for (const file of files) {
    if (!existsSync(file)) continue;
    const text = readFileSync(file, 'utf8');
    // deb822: a stanza with "Suites: bookworm ..." and "URIs: ..."; one-line: "deb URI bookworm main".
    for (const stanza of text.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      const suites = /^Suites:\s*(.+)$/m.exec(stanza)?.[1]?.split(/\s+/) ?? [];
      if (uri && suites.includes(debianSuite) && /\/debian\/?$/.test(uri)) return uri;
    }
    for (const line of text.split('\n')) {
      const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian\/?)\s+(\S+)/.exec(line);
      if (m && m[2] === debianSuite) return m[1]!;
    }
  }
  return 'http://deb.debian.org/debian';
}

function nodeVersion(): string {
  const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'node_modules/node/package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** The build stage's base: its reference in buildah's storage, built when missing. */
export function buildBaseRef(): string {
  const cas = hostLocalCAs();
  const key = sha256(
    JSON.stringify({
      baseRecipe,
      debianSuite,
      debootstrapPackages,
      npmVersion,
      node: nodeVersion(),
      cas: cas.map((c) => [c.name, sha256(c.pem)]),
    }),
  ).slice(0, 12);
  return `lpo.local/node-build:${nodeVersion()}-${debianSuite}-${key}`;
}

export function ensureBuildBase(): string {
  const ref = buildBaseRef();
  if (imageId(ref)) return ref;
  const started = Date.now();
  const nodeBin = path.join(repoRoot, 'node_modules/node/bin/node');
  if (!existsSync(nodeBin)) throw new Error('node_modules/node/bin/node is missing; run `npm ci` first');
  const mirror = debianMirror();
  log(`building the build-stage base ${ref} (once; about a minute): Debian ${debianSuite} from ${mirror}`);
  const work = mkdtempSync(path.join(os.tmpdir(), 'lpo-base-'));
  const container = buildah(['from', '--pull=never', 'scratch']);
  try {
    const root = buildah(['mount', container]);
    log('debootstrap (minbase + binutils, ca-certificates)');
    const r = spawnSync(
      'debootstrap',
      ['--variant=minbase', `--include=${debootstrapPackages.join(',')}`, debianSuite, root, mirror],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    if (r.status !== 0) throw new Error(`debootstrap failed (${r.status})`);
    const cas = hostLocalCAs();
    if (cas.length) {
      log(`adding the host's ${cas.length} local CA certificate(s)`);
      for (const c of cas) {
        const dest = path.join(root, 'usr/local/share/ca-certificates', c.name);
        mkdirSync(path.dirname(dest), { recursive: true });
        writeFileSync(dest, c.pem);
      }
      execFileSync('chroot', [root, 'update-ca-certificates'], { stdio: 'ignore' });
    }
    log(`adding node ${nodeVersion()} (node_modules/node) and npm ${npmVersion} (npm registry)`);
    execFileSync('cp', [nodeBin, path.join(root, 'usr/local/bin/node')]);
    execFileSync('npm', ['pack', `npm@${npmVersion}`, '--silent', '--pack-destination', work], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const npmDir = path.join(root, 'usr/local/lib/node_modules/npm');
    mkdirSync(npmDir, { recursive: true });
    execFileSync('tar', [
      '-xzf',
      path.join(work, `npm-${npmVersion}.tgz`),
      '-C',
      npmDir,
      '--strip-components=1',
    ]);
    execFileSync('ln', [
      '-s',
      '../lib/node_modules/npm/bin/npm-cli.js',
      path.join(root, 'usr/local/bin/npm'),
    ]);
    execFileSync('ln', [
      '-s',
      '../lib/node_modules/npm/bin/npx-cli.js',
      path.join(root, 'usr/local/bin/npx'),
    ]);
    const npmOut = execFileSync('chroot', [root, '/usr/local/bin/npm', '--version'], {
      encoding: 'utf8',
    }).trim();
    if (npmOut !== npmVersion) throw new Error(`npm in the base says ${npmOut}, expected ${npmVersion}`);
    // What the official images leave out too: package lists, downloaded .debs, device nodes.
    for (const d of ['var/lib/apt/lists', 'var/cache/apt', 'dev', 'tmp']) {
      const full = path.join(root, d);
      for (const entry of existsSync(full) ? readdirSync(full) : []) {
        rmSync(path.join(full, entry), { recursive: true, force: true });
      }
    }
    buildah([
      'config',
      '--env',
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      // Node's own CA list lacks the host's local CAs; the system bundle has them.
      '--env',
      'NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt',
      '--cmd',
      'node',
      '--label',
      `lpo.local/recipe=${baseRecipe}`,
      container,
    ]);
    log('committing the base image');
    buildah(['commit', '--quiet', '--identity-label=false', container, ref]);
    // Bases of an earlier recipe (other Node or npm version, other CAs) go; pruneDangling() frees them.
    const repo = ref.slice(0, ref.lastIndexOf(':'));
    for (const other of buildah(['images', '--format', '{{.Name}}:{{.Tag}}']).split('\n')) {
      if (other.startsWith(`${repo}:`) && other !== ref) buildah(['rmi', other], { allowFail: true });
    }
  } finally {
    buildah(['rm', container], { allowFail: true });
    rmSync(work, { recursive: true, force: true });
  }
  log(`built ${ref} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return ref;
}

export interface DockerfileBuild {
  dockerfile: string;
  /** Fully qualified (docker.io/…), so the archive names the image exactly once. */
  ref: string;
  context?: string;
  /** Build only up to this stage. */
  target?: string;
  buildArgs?: Record<string, string>;
  /**
   * Labels set on the command line as well. buildah 1.28's layer cache does not compare build-argument
   * values in LABEL steps (a build with another REVISION reused the cached image, labels and all);
   * buildah adds `--label`s as LABEL steps with the values written out, which the cache does compare.
   */
  labels?: Record<string, string>;
  /** Seconds since the epoch for every timestamp in the image; SOURCE_DATE_EPOCH, else 0. */
  timestamp?: number;
  noCache?: boolean;
  quiet?: boolean;
  /**
   * Keep buildah's build history in the image. Off for the images: the history names the
   * intermediate image each step started from, and which intermediate images the layer cache holds
   * depends on earlier builds, so a cached and a fresh build of the same inputs would differ. On for
   * the cached `deps` stage: buildah 1.28 finds a cached step only in images that have a history.
   */
  keepHistory?: boolean;
}

export function sourceDateEpoch(): number {
  const v = process.env.SOURCE_DATE_EPOCH;
  return v && /^\d+$/.test(v) ? Number(v) : 0;
}

/** Builds one Dockerfile; returns the image ID (the digest of its config). */
export function buildDockerfile(b: DockerfileBuild): string {
  const context = b.context ?? repoRoot;
  const dockerfile = path.resolve(context, b.dockerfile);
  const ignore = `${dockerfile}.dockerignore`;
  const args = [
    'bud',
    '--layers',
    '--pull=never',
    '--network=host',
    // OCI: buildah's Docker-format config records the working container's ID and hostname, which differ
    // from build to build; the OCI config holds only what the Dockerfile says.
    '--format=oci',
    ...(b.keepHistory ? [] : ['--omit-history']),
    '--identity-label=false',
    `--timestamp=${b.timestamp ?? sourceDateEpoch()}`,
    '-f',
    dockerfile,
    ...(existsSync(ignore) ? ['--ignorefile', ignore] : []),
    ...(b.target ? ['--target', b.target] : []),
    ...(b.noCache ? ['--no-cache'] : []),
    ...(b.quiet ? ['--quiet'] : []),
    ...Object.entries(b.buildArgs ?? {}).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]),
    ...Object.entries(b.labels ?? {}).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
    '-t',
    b.ref,
    context,
  ];
  buildah(args, { inherit: !b.quiet });
  const id = imageId(b.ref);
  if (!id) throw new Error(`buildah built ${b.ref} but cannot find it`);
  return id;
}

/** A docker-archive `ctr images import` reads; written to a temporary name, then renamed. */
export function exportDockerArchive(ref: string, file: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.partial`;
  rmSync(tmp, { force: true });
  buildah(['push', '--quiet', ref, `docker-archive:${tmp}:${ref}`]);
  execFileSync('mv', [tmp, file]);
}

/**
 * The Dockerfiles' `deps` stage (npm ci), tagged: images with a name, and the layers under them, are
 * kept by pruneDangling(), so `npm ci` runs again only when package*.json change.
 */
export const depsCacheRef = 'lpo.local/build-deps:cache';

export function buildDepsStage(
  dockerfile: string,
  base: string,
  opts: { context?: string; quiet?: boolean } = {},
): string {
  return buildDockerfile({
    dockerfile,
    ref: depsCacheRef,
    target: 'deps',
    buildArgs: { BUILD_BASE: base },
    keepHistory: true,
    ...opts,
  });
}

/**
 * Untagged images nothing is built on: the earlier builds' intermediate images (buildah's layer
 * cache). What the tagged images (the base, the deps stage, the latest images) stand on stays.
 */
export function pruneDangling(): void {
  // One pass removes the images nothing is built on; their parents become such images for the next.
  for (let pass = 0; pass < 20; pass++) {
    if (!buildah(['rmi', '--prune'], { allowFail: true })) return;
  }
}

/**
 * The Dockerfiles' ARG-driven OCI labels (version, revision, source), as build arguments and as
 * labels (see DockerfileBuild.labels).
 */
export function ociArgs(
  version: string,
  revision?: string,
): { buildArgs: Record<string, string>; labels: Record<string, string> } {
  const git = (args: string[]) =>
    spawnSync('git', ['--no-optional-locks', '-C', repoRoot, ...args], { encoding: 'utf8' });
  if (revision === undefined) {
    const head = git(['rev-parse', 'HEAD']);
    revision = head.status === 0 ? head.stdout.trim() : 'unknown';
    const dirty = git([
      'status',
      '--porcelain',
      '--',
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'src',
      'images',
    ]);
    if (head.status === 0 && dirty.status === 0 && dirty.stdout.trim()) revision += '-dirty';
  }
  const origin = git(['remote', 'get-url', 'origin']);
  const source = origin.status === 0 && /^https:\/\//.test(origin.stdout.trim()) ? origin.stdout.trim() : '';
  return {
    buildArgs: { VERSION: version, REVISION: revision, SOURCE_URL: source },
    labels: {
      'org.opencontainers.image.version': version,
      'org.opencontainers.image.revision': revision,
      'org.opencontainers.image.source': source,
    },
  };
}
