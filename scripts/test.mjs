// `npm test`: node's own test runner through tsx, with an explicit file list (Node 20 neither
// finds .ts test files by itself nor expands globs). Extra arguments narrow the list:
//   npm test -- twin          runs only test files whose path contains "twin"
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const roots = ['core', 'mappers', 'twin', 'hub', 'cli', 'test', 'examples', 'hardware-tests'];
const skip = new Set(['node_modules', 'edgetwin-data', '.git']);

function collect(dir, out) {
  let entries;
  try { entries = readdirSync(dir); } catch { return out; }
  for (const name of entries) {
    if (skip.has(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) collect(path, out);
    else if (name.endsWith('.test.ts')) out.push(relative(process.cwd(), path));
  }
  return out;
}

const filters = process.argv.slice(2);
const files = roots.flatMap((r) => collect(r, [])).sort()
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], { stdio: 'inherit' });
child.on('exit', (code, signal) => process.exit(signal ? 1 : code ?? 1));
