import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { cacheDir, repoRoot } from './config.ts';
import { buildNodeImage, importArchive, type NodeImage } from './images.ts';
import { log } from './processes.ts';

/** The project's images (see images/*.Dockerfile for the same content built with Docker). */
export const version = '0.1.0';
export const projectImages: NodeImage[] = [
  { ref: `license-pair-operator/operator:${version}`, entry: 'src/operator/main.ts' },
  { ref: `license-pair-operator/license-server:${version}`, entry: 'src/license-server/main.ts' },
  { ref: 'lpo.local/echo:test', entry: 'test/e2e/fixtures/echo-server.ts' },
];

export function buildAndImportImages(refs?: string[]): void {
  const outDir = path.join(cacheDir, 'images', 'project');
  mkdirSync(outDir, { recursive: true });
  for (const image of projectImages) {
    if (refs && !refs.includes(image.ref)) continue;
    if (!existsSync(path.join(repoRoot, image.entry))) {
      log(`skipping ${image.ref}: ${image.entry} does not exist yet`);
      continue;
    }
    const started = Date.now();
    log(`building ${image.ref}`);
    const file = buildNodeImage(image, outDir);
    importArchive(file);
    log(`imported ${image.ref} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}
