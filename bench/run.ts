// `npm run bench [-- name...]`: runs each benchmark in its own process, one after another, so
// they never compete for the two cores. Each prints its table and one JSON line.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const dir = import.meta.dirname;
const all = readdirSync(dir, { withFileTypes: true })
  .filter((e) => e.isDirectory() && existsSync(join(dir, e.name, 'index.ts')))
  .map((e) => e.name)
  .sort();
const wanted = process.argv.slice(2);
const chosen = wanted.length > 0 ? all.filter((n) => wanted.includes(n)) : all;
if (chosen.length === 0) {
  console.error(`no benchmark named ${wanted.join(', ')}; there are: ${all.join(', ')}`);
  process.exit(1);
}
let failed = 0;
for (const name of chosen) {
  console.log(`\n== bench/${name}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(dir, name, 'index.ts')], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed > 0 ? 1 : 0);
