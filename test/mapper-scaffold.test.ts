// `edgetwin mapper new` end to end, as an outside author goes: scaffold, `npm install && npm test`
// at once, `edgetwin run --driver ./<name>` beside it, then `npm pack` and install the package into
// a fresh project beside a packed edgetwin, where `edgetwin run --driver <package>` serves the
// example Device: values reach the twin and a desired value is applied. No edgetwin source is
// edited. Also: examples/custom-mapper is exactly what the scaffold writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort, waitFor } from '../core/testing.ts';
import { scaffoldNames } from '../cli/mapper-new.ts';
import { scaffoldFiles } from '../cli/scaffold/templates.ts';

const exec = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'cli', 'bin', 'edgetwin.js');
const npmFlags = ['--no-audit', '--no-fund', '--loglevel=error'];

/** npm from its cache alone; only when the cache lacks something does it ask the registry. */
async function npm(args: string[], cwd: string) {
  try {
    return await exec('npm', [...args, '--offline', ...npmFlags], { cwd });
  } catch (err) {
    if (!/ENOTCACHED/.test(String((err as { stderr?: string }).stderr))) throw err;
    return exec('npm', [...args, '--prefer-offline', ...npmFlags], { cwd });
  }
}
// Without this, the package's own `node --test` would report to this runner instead of printing.
const { NODE_TEST_CONTEXT: _runner, ...childEnv } = process.env;

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

test('examples/custom-mapper is what `edgetwin mapper new examples/custom-mapper --protocol line` writes', () => {
  const dir = join(root, 'examples', 'custom-mapper');
  const expected = scaffoldFiles(scaffoldNames(dir, 'line'));
  const present = walk(dir).map((f) => relative(dir, f)).filter((f) => !f.startsWith('node_modules') && !f.startsWith('dist')).sort();
  assert.deepEqual(present, Object.keys(expected).sort());
  for (const [file, text] of Object.entries(expected)) assert.equal(readFileSync(join(dir, file), 'utf8'), text, file);
});

test('mapper new refuses a bad name, a built-in protocol and a folder that is not empty, writing nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgetwin-scaffold-'));
  try {
    const fail = (args: string[]) => exec(process.execPath, [cli, 'mapper', 'new', ...args], { cwd: dir }).then(() => assert.fail('expected exit 1'), (e: { code: number; stderr: string }) => e);
    assert.match((await fail(['Bad Name'])).stderr, /not a valid npm package name/);
    assert.match((await fail(['edgetwin-driver-modbus'])).stderr, /protocol "modbus" is served by a built-in driver.*--protocol/);
    mkdirSync(join(dir, 'taken'));
    writeFileSync(join(dir, 'taken', 'x'), '');
    assert.match((await fail(['taken'])).stderr, /exists and is not empty/);
    assert.deepEqual(readdirSync(dir).sort(), ['taken']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a scaffolded driver package: npm install && npm test pass, and it runs from a folder and from a packed install', { timeout: 600_000 }, async () => {
  assert.ok(existsSync(join(root, 'dist', 'sdk', 'index.js')) && existsSync(join(root, 'dist', 'types')), 'build edgetwin first: node scripts/build.mjs');
  const dir = mkdtempSync(join(tmpdir(), 'edgetwin-scaffold-'));
  const procs: ChildProcess[] = [];
  const start = (args: string[], cwd: string) => {
    const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (c: Buffer) => { output += c.toString(); });
    child.stderr!.on('data', (c: Buffer) => { output += c.toString(); });
    procs.push(child);
    return { child, output: () => output };
  };
  const stop = async (child: ChildProcess) => {
    if (child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  const twinOf = async (api: string, device: string) => {
    const res = await fetch(`${api}/api/v1/devices/${device}/twin`).catch(() => undefined);
    return res?.ok ? (await res.json()) as { state: string; properties: Record<string, { reported?: { value: unknown; quality: string }; reconcile: { state: string; reason?: string } }> } : undefined;
  };
  const serves = async (gateway: { output: () => string }, api: string, device: string) => {
    await waitFor('the example device online with its temperature in the twin', async () => {
      const twin = await twinOf(api, device);
      return twin?.state === 'online' && twin.properties.temperature?.reported?.value === 23.5;
    }, 60_000).catch((err: Error) => assert.fail(`${err.message}\n${gateway.output()}`));
  };
  try {
    const pkgDir = join(dir, 'edgetwin-driver-e2e');
    await exec(process.execPath, [cli, 'mapper', 'new', 'edgetwin-driver-e2e'], { cwd: dir });
    const names = scaffoldNames(pkgDir);
    await npm(['install'], pkgDir);
    const tested = await exec('npm', ['test'], { cwd: pkgDir, env: childEnv });
    assert.match(tested.stdout, /# fail 0/);
    assert.match(tested.stdout, /# pass \d+/);

    // `npm run simulate` serves the port the example Device names.
    const sim = start([join(pkgDir, 'dist', 'src', 'simulate.js')], pkgDir);
    await waitFor('the simulator to listen', () => sim.output().includes(`127.0.0.1:${names.port}`), 30_000);

    // Beside the package folder, as its README says: --driver ./<name> --devices ./<name>/examples.
    const api1 = await freePort();
    const dev = start([cli, 'run', '--driver', './edgetwin-driver-e2e', '--devices', './edgetwin-driver-e2e/examples', '--api-port', String(api1), '--mqtt-port', String(await freePort()), '--data-dir', join(dir, 'data1'), '--no-live'], dir);
    await serves(dev, `http://127.0.0.1:${api1}`, 'default/e2e-instrument');
    await stop(dev.child);

    // Packed: the driver package (prepare compiles it) and edgetwin itself, into a fresh project.
    await npm(['pack', '--pack-destination', dir], pkgDir);
    // dist/ is built above; install scripts of edgetwin's dependencies are skipped below (compiling
    // SQLite takes minutes on a shared 2-core machine), so better-sqlite3 gets the addon this checkout built.
    const packed = await npm(['pack', '--ignore-scripts', '--pack-destination', dir], root);
    const edgetwinTgz = join(dir, packed.stdout.trim().split('\n').at(-1)!);
    const app = join(dir, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    await npm(['install', '--ignore-scripts', edgetwinTgz, join(dir, 'edgetwin-driver-e2e-0.1.0.tgz')], app);
    const addon = join('node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node');
    mkdirSync(dirname(join(app, addon)), { recursive: true });
    copyFileSync(join(root, addon), join(app, addon));
    assert.ok(!existsSync(join(app, 'node_modules', 'edgetwin-driver-e2e', 'node_modules')), 'the driver uses the app\'s edgetwin (a peer dependency)');

    const bin = join(app, 'node_modules', 'edgetwin', 'cli', 'bin', 'edgetwin.js');
    const listed = await exec(process.execPath, [bin, 'drivers', '--driver', 'edgetwin-driver-e2e'], { cwd: app });
    assert.match(listed.stdout, new RegExp(`^e2e\\s+-\\s+edgetwin-driver-e2e@0\\.1\\.0\\s+${join(app, 'node_modules', 'edgetwin-driver-e2e', 'dist', 'src', 'index.js')}$`, 'm'));

    const api2 = await freePort();
    const apiUrl = `http://127.0.0.1:${api2}`;
    const gateway = start([bin, 'run', '--driver', 'edgetwin-driver-e2e', '--devices', 'node_modules/edgetwin-driver-e2e/examples', '--api-port', String(api2), '--mqtt-port', String(await freePort()), '--data-dir', join(dir, 'data2'), '--no-live'], app);
    await serves(gateway, apiUrl, 'default/e2e-instrument');
    const put = async (value: string) => {
      const res = await fetch(`${apiUrl}/api/v1/devices/default/e2e-instrument/twin/desired/setpoint`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value }) });
      assert.equal(res.status, 200, await res.text());
    };
    await put('22.5');
    await waitFor('setpoint 22.5 applied and read back', async () => {
      const p = (await twinOf(apiUrl, 'default/e2e-instrument'))?.properties.setpoint;
      return p?.reconcile.state === 'applied' && p.reported?.value === 22.5;
    }, 60_000).catch((err: Error) => assert.fail(`${err.message}\n${gateway.output()}`));
    // The instrument refuses 99 (ERANGE): the driver marks it permanent, the twin shows why.
    await put('99');
    const refused = await waitFor('setpoint 99 failed', async () => {
      const p = (await twinOf(apiUrl, 'default/e2e-instrument'))?.properties.setpoint;
      return p?.reconcile.state === 'failed' ? p.reconcile.reason : undefined;
    }, 60_000);
    assert.match(refused, /ERANGE: .*setpoint 99 is outside 5\.\.30 \(permanent/);
  } finally {
    for (const child of procs.reverse()) await stop(child);
    rmSync(dir, { recursive: true, force: true });
  }
});
