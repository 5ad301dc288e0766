import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { assembleNodeRootfs } from '../cluster/images.ts';
import { repoRoot } from './lib.ts';

// The Dockerfiles are built with buildah in image-build.test.ts. Checked here, without a builder: the
// Dockerfiles' root filesystem step (images/assemble-rootfs.sh) produces exactly the files the local
// builder (images.ts: the e2e fixture image, and the product images where buildah is missing) puts in
// an image, and both bundle with the same esbuild invocation and run the same entrypoint as the same
// user; the Dockerfiles' build-stage base defaults to node:24-bookworm and they carry the OCI labels.

const work = mkdtempSync(path.join(os.tmpdir(), 'lpo-images-test-'));
const cleanup: string[] = [work];
afterAll(() => {
  for (const d of cleanup) rmSync(d, { recursive: true, force: true });
});

function tree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = path.join(dir, name);
      const st = statSync(full);
      const rel = '/' + path.relative(root, full);
      if (st.isDirectory()) {
        out.set(rel + '/', `dir ${(st.mode & 0o7777).toString(8)}`);
        walk(full);
      } else {
        const hash = createHash('sha256').update(readFileSync(full)).digest('hex').slice(0, 16);
        out.set(rel, `file ${(st.mode & 0o777).toString(8)} ${hash}`);
      }
    }
  };
  walk(root);
  return out;
}

describe('images', () => {
  it('images/assemble-rootfs.sh (the Dockerfiles) builds the same root filesystem as the local builder', () => {
    const bundle = path.join(work, 'main.mjs');
    writeFileSync(bundle, 'console.log("hello");\n');
    const mine = path.join(work, 'rootfs');
    execFileSync('sh', [
      path.join(repoRoot, 'images/assemble-rootfs.sh'),
      path.join(repoRoot, 'node_modules/node/bin/node'),
      bundle,
      mine,
    ]);
    const theirs = assembleNodeRootfs(bundle, 'main.mjs');
    cleanup.push(theirs);
    const a = tree(mine);
    const b = tree(theirs);
    // The local builder does not set directory modes beyond /tmp; compare files exactly and /tmp's mode.
    const files = (t: Map<string, string>) => [...t].filter(([k]) => !k.endsWith('/'));
    expect(files(a)).toEqual(files(b));
    expect(a.get('/tmp/')).toBe('dir 1777');
    expect([...a.keys()]).toEqual(
      expect.arrayContaining([
        '/usr/local/bin/node',
        '/etc/passwd',
        '/etc/group',
        '/app/main.mjs',
        '/lib64/ld-linux-x86-64.so.2',
      ]),
    );
    expect(readFileSync(path.join(mine, 'etc/passwd'), 'utf8')).toContain('nonroot:x:65532:65532:');
    // It runs: the copied loader and libraries are enough for the node binary.
    const out = execFileSync(
      path.join(mine, 'lib64/ld-linux-x86-64.so.2'),
      [
        '--library-path',
        path.join(mine, 'lib/x86_64-linux-gnu'),
        path.join(mine, 'usr/local/bin/node'),
        '--version',
      ],
      {
        encoding: 'utf8',
      },
    );
    expect(out).toMatch(/^v24\./);
  });

  for (const [image, entry] of [
    ['operator', 'src/operator/main.ts'],
    ['license-server', 'src/license-server/main.ts'],
  ] as const) {
    it(`images/${image}.Dockerfile: builder stage bundles ${entry} like bundle(), scratch final stage as 65532`, () => {
      const docker = readFileSync(path.join(repoRoot, 'images', `${image}.Dockerfile`), 'utf8');
      const builder = readFileSync(path.join(repoRoot, 'test/cluster/images.ts'), 'utf8');
      const local = readFileSync(path.join(repoRoot, 'test/cluster/project-images.ts'), 'utf8');
      expect(docker).toMatch(/^ARG BUILD_BASE=node:24-bookworm$/m);
      expect(docker).toMatch(/^FROM \$\{BUILD_BASE\} AS deps$/m);
      expect(docker).toMatch(/^FROM deps AS build$/m);
      expect(docker).toContain('RUN npm ci');
      expect(docker).toContain(`esbuild ${entry} --bundle`);
      for (const arg of [
        '--bundle',
        '--platform=node',
        '--target=node24',
        '--format=esm',
        '--log-level=warning',
      ])
        expect(builder, `images.ts uses ${arg}`).toContain(`'${arg}'`);
      const banner = /"--banner:js=([^"]+)"/.exec(docker)?.[1];
      expect(banner).toBeDefined();
      expect(builder).toContain(banner!);
      expect(local).toMatch(
        new RegExp(
          `ref: \`license-pair-operator/${image}:\\$\\{version\\}\`,\\s*entry: '${entry}',\\s*dockerfile: 'images/${image}.Dockerfile'`,
        ),
      );
      expect(docker).toMatch(/^FROM scratch$/m);
      expect(docker).toMatch(/^USER 65532:65532$/m);
      expect(docker).toMatch(/^ENTRYPOINT \["\/usr\/local\/bin\/node", "\/app\/main\.mjs"\]$/m);
      const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
        version: string;
        license: string;
      };
      expect(docker).toContain(`ARG VERSION=${pkg.version}`);
      expect(local).toContain(`export const version = '${pkg.version}';`);
      for (const label of ['title', 'description', 'version', 'revision', 'source', 'licenses'])
        expect(docker).toContain(`org.opencontainers.image.${label}=`);
      expect(docker).toContain(`org.opencontainers.image.licenses="${pkg.license}"`);
      expect(builder).toContain("entrypoint: ['/usr/local/bin/node', '/app/main.mjs']");
      const ignore = readFileSync(path.join(repoRoot, 'images', `${image}.Dockerfile.dockerignore`), 'utf8');
      expect(ignore).toMatch(/^node_modules$/m);
    });
  }
});
