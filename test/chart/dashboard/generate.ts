// Writes charts/license-pair-operator/files/dashboard.json from dashboard.ts.
//   node test/chart/dashboard/generate.ts          # write it (npm run dashboard)
//   node test/chart/dashboard/generate.ts --check  # exit 1 when it is out of date
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { dashboardPath } from '../dashboard-lib.ts';
import { repoRoot } from '../lib.ts';
import { renderDashboard } from './dashboard.ts';

const text = await renderDashboard();
const file = path.relative(repoRoot, dashboardPath);
if (process.argv.includes('--check')) {
  if (readFileSync(dashboardPath, 'utf8') !== text) {
    console.error(`${file} is out of date: run npm run dashboard`);
    process.exit(1);
  }
  console.log(`${file} is up to date`);
} else {
  writeFileSync(dashboardPath, text);
  console.log(`wrote ${file}`);
}
