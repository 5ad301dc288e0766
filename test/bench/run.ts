// npm run bench -- <name>: runs one benchmark and prints its figures. Benchmarks are not tests.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const benches: Record<string, string> = {
  'license-server': 'license-server.ts',
  controller: 'controller.ts',
  failover: 'failover.ts',
  scale: 'scale.ts',
  certificates: 'certificates.ts',
};
const [name, ...rest] = process.argv.slice(2);
if (!name || !benches[name] || !existsSync(path.join(here, benches[name]))) {
  const available = Object.entries(benches)
    .filter(([, f]) => existsSync(path.join(here, f)))
    .map(([n]) => n);
  console.error(`usage: npm run bench -- <name> [options]\navailable: ${available.join(', ')}`);
  process.exit(2);
}
const child = spawn(process.execPath, [path.join(here, benches[name]), ...rest], { stdio: 'inherit' });
// A signal to this wrapper reaches the benchmark, which then cleans up what it started (a
// benchmark left running would go on using, and finally tear down, the cluster).
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
