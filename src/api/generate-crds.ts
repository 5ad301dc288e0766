// Writes crds/lpo.dev_licenseserverpairs.yaml and docs/api.md from the zod schemas in pair.ts.
//   node src/api/generate-crds.ts           write both files
//   node src/api/generate-crds.ts --check   exit 1 when a checked-in file differs (drift)
//   node src/api/generate-crds.ts --docs    write (or with --check, check) only docs/api.md
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiDocs } from './api-docs.ts';
import { crdYaml } from './crd.ts';
import { GROUP, PLURAL } from './pair.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CRD_PATH = join(root, 'crds', `${GROUP}_${PLURAL}.yaml`);
export const DOCS_PATH = join(root, 'docs', 'api.md');

export function generatedFiles(): { path: string; content: string }[] {
  return [
    { path: CRD_PATH, content: crdYaml() },
    { path: DOCS_PATH, content: apiDocs() },
  ];
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function main(argv: string[]): number {
  const check = argv.includes('--check');
  const docsOnly = argv.includes('--docs') && !argv.includes('--crds');
  const files = generatedFiles().filter((f) => !docsOnly || f.path === DOCS_PATH);
  let drift = 0;
  for (const f of files) {
    if (check) {
      if (read(f.path) !== f.content) {
        console.error(`drift: ${f.path} differs from the schema in src/api/pair.ts; run: npm run crds`);
        drift++;
      }
    } else {
      writeFileSync(f.path, f.content);
      console.log(`wrote ${f.path}`);
    }
  }
  return drift > 0 ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = main(process.argv.slice(2));
}
