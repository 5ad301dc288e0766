import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import {
  buildDepsStage,
  buildDockerfile,
  buildahAvailable,
  ensureBuildBase,
  exportDockerArchive,
  ociArgs,
  pruneDangling,
} from './buildah.ts';
import { cacheDir, repoRoot } from './config.ts';
import { buildNodeImage, importArchive, normalise, type NodeImage } from './images.ts';
import { runningNodes } from './node.ts';
import { log } from './processes.ts';

/**
 * The project's images. The two product images are built from their Dockerfiles with buildah; the
 * e2e fixture (no Dockerfile) with the local builder of images.ts.
 */
export const version = '0.1.0';
export const projectImages: NodeImage[] = [
  {
    ref: `license-pair-operator/operator:${version}`,
    entry: 'src/operator/main.ts',
    dockerfile: 'images/operator.Dockerfile',
  },
  {
    ref: `license-pair-operator/license-server:${version}`,
    entry: 'src/license-server/main.ts',
    dockerfile: 'images/license-server.Dockerfile',
  },
  { ref: 'lpo.local/echo:test', entry: 'test/e2e/fixtures/echo-server.ts' },
  { ref: 'lpo.local/app-client:test', entry: 'test/e2e/fixtures/app-client.ts' },
];

export type Builder = 'buildah' | 'local';

/**
 * `buildah` (the Dockerfiles) when buildah is there, else `local` (the same files assembled
 * without a builder). `--builder=local|buildah` or LPO_IMAGE_BUILDER chooses.
 */
export function chooseBuilder(flag?: string): Builder {
  const raw = flag ?? process.env.LPO_IMAGE_BUILDER;
  if (raw && raw !== 'buildah' && raw !== 'local') throw new Error(`unknown image builder ${raw}`);
  const wanted = raw as Builder | undefined;
  const available = buildahAvailable();
  if (wanted === 'buildah' && !available.ok) throw new Error(`cannot build with buildah: ${available.why}`);
  if (wanted) return wanted;
  if (!available.ok) log(`building the images without the Dockerfiles: ${available.why}`);
  return available.ok ? 'buildah' : 'local';
}

export interface BuiltImage {
  ref: string;
  archive: string;
  builder: Builder;
  /** The image ID (digest of the image config) when built with buildah. */
  id?: string;
  seconds: number;
}

/** Builds the images (all, or those named) into docker-archives under the project cache. */
export function buildProjectImages(refs?: string[], builder: Builder = chooseBuilder()): BuiltImage[] {
  const outDir = path.join(cacheDir, 'images', 'project');
  mkdirSync(outDir, { recursive: true });
  const built: BuiltImage[] = [];
  let base: string | undefined;
  for (const image of projectImages) {
    if (refs?.length && !refs.includes(image.ref)) continue;
    if (!existsSync(path.join(repoRoot, image.entry))) {
      log(`skipping ${image.ref}: ${image.entry} does not exist yet`);
      continue;
    }
    if (builder === 'buildah' && image.dockerfile && !base) {
      base = ensureBuildBase();
      const started = Date.now();
      log('the dependencies stage (npm ci; cached until package*.json change)');
      buildDepsStage(image.dockerfile, base);
      log(`dependencies stage ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
    const started = Date.now();
    if (builder === 'buildah' && image.dockerfile && base) {
      log(`building ${image.ref} from ${image.dockerfile} with buildah`);
      const ref = normalise(image.ref);
      const oci = ociArgs(version);
      const id = buildDockerfile({
        dockerfile: image.dockerfile,
        ref,
        buildArgs: { BUILD_BASE: base, ...oci.buildArgs },
        labels: oci.labels,
      });
      const archive = path.join(outDir, `${image.ref.replace(/[/:]/g, '_')}.tar`);
      exportDockerArchive(ref, archive);
      const seconds = (Date.now() - started) / 1000;
      log(`built ${image.ref} in ${seconds.toFixed(1)} s: image ID sha256:${id}`);
      built.push({ ref: image.ref, archive, builder, id, seconds });
    } else {
      log(`building ${image.ref}${image.dockerfile ? ' without its Dockerfile (local builder)' : ''}`);
      const archive = buildNodeImage(image, outDir);
      built.push({ ref: image.ref, archive, builder: 'local', seconds: (Date.now() - started) / 1000 });
    }
  }
  if (base) pruneDangling();
  return built;
}

/** `npm run images [--builder=local|buildah] [ref ...]`: build, then import into every node's containerd. */
export function buildAndImportImages(args?: string[]): void {
  const flag = args?.find((a) => a.startsWith('--builder='))?.slice('--builder='.length);
  const refs = args?.filter((a) => !a.startsWith('--'));
  const nodes = runningNodes().map((n) => n.name);
  if (!nodes.length) throw new Error('no node is running; start one with `npm run cluster -- up --node`');
  for (const image of buildProjectImages(refs, chooseBuilder(flag))) {
    for (const node of nodes) {
      const started = Date.now();
      importArchive(image.archive, node);
      log(`imported ${image.ref} into ${node} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
  }
}
