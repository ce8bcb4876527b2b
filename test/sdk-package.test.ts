// The SDK as a package surface: the exports map names built files, the declarations import what
// a consumer's TypeScript can resolve, and no chunk the gateway can load imports node:test (the
// kit lives in `edgetwin/sdk/testing` only). Reads dist/ as `node scripts/build.mjs` left it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** Every dist file a module reaches through static imports, and dynamic ones when asked. */
function reachable(entry: string, dynamic: boolean): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    const specs = [...text.matchAll(/(?:from|import)\s*"(\.{1,2}\/[^"]+)"/g)].map((m) => m[1]!);
    if (dynamic) specs.push(...[...text.matchAll(/import\("(\.{1,2}\/[^"]+)"\)/g)].map((m) => m[1]!));
    for (const spec of specs) visit(join(dirname(file), spec));
  };
  visit(entry);
  return seen;
}

const importsNodeTest = (file: string) => /(from|import)\s*\(?"node:test"/.test(readFileSync(file, 'utf8'));

test('dist/ is built (run node scripts/build.mjs)', () => {
  assert.ok(existsSync(join(dist, 'main.js')), 'dist/main.js is missing: run `node scripts/build.mjs`');
});

test('the exports map names built JavaScript and declarations for edgetwin/sdk and edgetwin/sdk/testing', () => {
  for (const entry of ['./sdk', './sdk/testing']) {
    const target = pkg.exports[entry];
    assert.ok(target, `exports has ${entry}`);
    assert.ok(existsSync(join(root, target.default)), `${target.default} exists`);
    assert.ok(existsSync(join(root, target.types)), `${target.types} exists`);
    assert.equal(Object.keys(target)[0], 'types', 'types comes first, as TypeScript requires');
  }
});

test('the declarations import .js siblings that exist as .d.ts', () => {
  const walk = (dir: string): string[] => readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.d.ts') ? [join(dir, e.name)] : []));
  const files = walk(join(dist, 'types'));
  assert.ok(files.length > 10);
  for (const file of files) {
    for (const m of readFileSync(file, 'utf8').matchAll(/(?:from\s+'|import\(')(\.{1,2}\/[^']+)'/g)) {
      const spec = m[1]!;
      assert.ok(spec.endsWith('.js'), `${relative(root, file)} imports ${spec}`);
      assert.ok(existsSync(join(dirname(file), spec.replace(/\.js$/, '.d.ts'))), `${relative(root, file)}: ${spec} resolves`);
    }
  }
});

test('no chunk the gateway or edgetwin/sdk can load imports node:test; edgetwin/sdk/testing does', () => {
  const gateway = reachable(join(dist, 'main.js'), true);
  const sdk = reachable(join(dist, 'sdk', 'index.js'), true);
  const drivers = [...gateway].filter((f) => /\/driver-[A-Z0-9]+\.js$/.test(f));
  assert.ok(drivers.length >= 5, `every built-in driver has a chunk (found ${drivers.length})`);
  for (const file of new Set([...gateway, ...sdk])) assert.equal(importsNodeTest(file), false, `${relative(root, file)} imports node:test`);
  assert.ok([...reachable(join(dist, 'sdk', 'testing.js'), false)].some(importsNodeTest), 'the kit is in edgetwin/sdk/testing');
});

test('edgetwin/sdk and the gateway share chunks, so a driver package sees the gateway\'s module instances', () => {
  const gateway = reachable(join(dist, 'main.js'), true);
  const sdk = [...reachable(join(dist, 'sdk', 'index.js'), false)].filter((f) => f !== join(dist, 'sdk', 'index.js'));
  assert.ok(sdk.length > 0 && sdk.every((f) => gateway.has(f)), 'every chunk edgetwin/sdk imports is one the gateway loads');
});

test('edgetwin/sdk loads without node:test and exports the contract helpers and SDK_VERSION', async () => {
  const sdk = await import(join(dist, 'sdk', 'index.js'));
  assert.match(sdk.SDK_VERSION, /^\d+\.\d+\.\d+$/);
  for (const name of ['defineDriver', 'codedError', 'raceAbort', 'decode', 'encode', 'MapperHost']) assert.equal(typeof sdk[name], 'function', name);
  assert.equal(sdk.runConformance, undefined, 'the kit is not part of edgetwin/sdk');
});
