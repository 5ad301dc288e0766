// npm run bench -- <name>: runs one benchmark and prints its figures. Benchmarks are not tests.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const benches: Record<string, string> = {
  'license-server': 'license-server.ts',
  controller: 'controller.ts',
  failover: 'failover.ts',
  scale: 'scale.ts',
};
const [name, ...rest] = process.argv.slice(2);
if (!name || !benches[name] || !existsSync(path.join(here, benches[name]))) {
  const available = Object.entries(benches)
    .filter(([, f]) => existsSync(path.join(here, f)))
    .map(([n]) => n);
  console.error(`usage: npm run bench -- <name> [options]\navailable: ${available.join(', ')}`);
  process.exit(2);
}
const r = spawnSync(process.execPath, [path.join(here, benches[name]), ...rest], { stdio: 'inherit' });
process.exit(r.status ?? 1);
