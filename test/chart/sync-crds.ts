// Copies crds/*.yaml into the chart (charts/license-pair-operator/files/crds/), formatted with the
// project's prettier settings. Run after `npm run crds`; test/chart/render.test.ts fails on drift.
//   node test/chart/sync-crds.ts
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as prettier from 'prettier';
import { chartDir, repoRoot } from './lib.ts';

const from = path.join(repoRoot, 'crds');
const to = path.join(chartDir, 'files', 'crds');
const options = (await prettier.resolveConfig(path.join(repoRoot, 'package.json'))) ?? {};
for (const name of readdirSync(from).filter((f) => f.endsWith('.yaml'))) {
  const text = readFileSync(path.join(from, name), 'utf8');
  writeFileSync(path.join(to, name), await prettier.format(text, { ...options, parser: 'yaml' }));
  console.log(`copied crds/${name} to ${path.relative(repoRoot, to)}/`);
}
