// `npm test`: node's own test runner through tsx, with an explicit file list (Node 20 neither
// finds .ts test files by itself nor expands globs). Extra arguments narrow the list:
//   npm test -- twin          runs only test files whose path contains "twin"
import { execSync, spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const roots = ['core', 'mappers', 'twin', 'hub', 'cli', 'test', 'examples', 'hardware-tests'];
const skip = new Set(['node_modules', 'edgetwin-data', '.git']);

function collect(dir, out) {
  let entries;
  try { entries = readdirSync(dir); } catch { return out; }
  // A nested package (examples/custom-mapper, a driver package) runs its own `npm test` against
  // its own dependencies; test/mapper-scaffold.test.ts runs that one.
  if (entries.includes('package.json')) return out;
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
// Every test has its own timeout, so a stuck test fails rather than hangs. A test file whose
// process never exits after its tests (a handle left open) would still hang the whole run, so a
// watchdog ends it and says which test files were still running.
// Node 20 applies --test-timeout to each test FILE as a whole too (it runs in a process of its own):
// the files that drive real containers take minutes on a loaded machine, so the bound is generous.
const perTestMs = Number(process.env.EDGETWIN_TEST_TIMEOUT_MS ?? 300_000);
const wholeRunMin = Number(process.env.EDGETWIN_TEST_RUN_TIMEOUT_MIN ?? 45);
const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', `--test-timeout=${perTestMs}`, ...files], { stdio: 'inherit', detached: true });
const watchdog = setTimeout(() => {
  let still = '';
  try {
    still = execSync(`ps -o args= --ppid ${child.pid}`, { encoding: 'utf8' });
  } catch {
    // ps found nothing: the run is ending on its own.
  }
  console.error(`\nnpm test: the run exceeded ${wholeRunMin} minutes; still running:\n${still}`);
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
  process.exit(1);
}, wholeRunMin * 60_000);
watchdog.unref();
// The run has a process group of its own (so the watchdog can end all of it): pass Ctrl-C on.
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    try {
      process.kill(-child.pid, sig);
    } catch {
      // Already gone.
    }
  });
}
child.on('exit', (code, signal) => process.exit(signal ? 1 : code ?? 1));
