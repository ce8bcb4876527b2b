// docs/mapper-guide.md checked against the code it describes: each quoted file is that file
// byte for byte, each repository path it names exists, and its lines-of-code table is current.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveConfig } from '../cli/config.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
const guide = readFileSync(join(root, 'docs', 'mapper-guide.md'), 'utf8');

const lines = (file: string) => readFileSync(file, 'utf8').split('\n').length - 1;

/** A protocol folder's non-test code: no *.test.ts, no simulators or fixtures (sim/, testing/). */
function protocolCode(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'sim' || name === 'testing' ? [] : protocolCode(path);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') ? [path] : [];
  });
}

/** The table the guide must show. */
export function locTable(): string {
  const rows = ['virtual', 'modbus', 'opcua', 'ble', 'serial'].map((p) => {
    const dir = join(root, 'mappers', p);
    const total = protocolCode(dir).reduce((n, f) => n + lines(f), 0);
    return `| ${p} | ${lines(join(dir, 'driver.ts'))} | ${total} |`;
  });
  rows.push(`| the scaffold's (examples/custom-mapper) | ${lines(join(root, 'examples', 'custom-mapper', 'src', 'driver.ts'))} | ${lines(join(root, 'examples', 'custom-mapper', 'src', 'driver.ts')) + lines(join(root, 'examples', 'custom-mapper', 'src', 'index.ts'))} |`);
  return ['| Protocol | driver.ts | whole folder |', '|---|---|---|', ...rows].join('\n');
}

test('every file the guide quotes is quoted exactly', () => {
  const blocks = [...guide.matchAll(/<!-- file:(\S+) -->\n```\w+\n([\s\S]*?)```\n<!-- end -->/g)];
  assert.ok(blocks.length >= 4, 'the guide quotes the driver, its loader, the example YAML and the conformance test');
  for (const [, file, text] of blocks) assert.equal(text, readFileSync(join(root, file!), 'utf8'), `${file} as quoted in docs/mapper-guide.md`);
});

test('the quoted driver removes each abort listener it adds (signals are reused)', () => {
  const driver = /<!-- file:examples\/custom-mapper\/src\/driver.ts -->\n```ts\n([\s\S]*?)```/.exec(guide)?.[1] ?? '';
  const added = driver.match(/addEventListener\('abort'/g)?.length ?? 0;
  assert.ok(added > 0);
  assert.equal(driver.match(/removeEventListener\('abort'/g)?.length ?? 0, added);
});

test('every Device the guide shows comes with the DeviceModel it refers to', () => {
  const yaml = [...guide.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((y) => /kind: Device\n/.test(y));
  assert.ok(yaml.length > 0);
  for (const doc of yaml) {
    const ref = /deviceModelRef:\s*\n\s+name: (\S+)/.exec(doc)?.[1];
    assert.ok(ref, 'the Device names its model');
    assert.match(doc, new RegExp(`kind: DeviceModel\\nmetadata:\\n  name: ${ref}\\n`), `the model ${ref} is shown beside its Device`);
  }
});

test('every repository path the guide names exists', () => {
  const named = new Set([...guide.matchAll(/(?:`|\(|\s)((?:\.\.\/)?(?:mappers|examples|cli|docs|core|twin)\/[\w./-]+?)[`),\s]/g)].map((m) => m[1]!.replace(/^\.\.\//, '').replace(/[.]$/, '')));
  assert.ok(named.size > 5);
  // The scaffold's file list names files inside the package it writes: examples/custom-mapper.
  const missing = [...named].filter((p) => !p.includes('<') && !existsSync(join(root, p)) && !existsSync(join(root, 'examples', 'custom-mapper', p)));
  assert.deepEqual(missing, []);
  assert.doesNotMatch(guide, /mappers\/line\//, 'no invented driver folder');
});

test('the gateway config the guide shows is valid, its drivers: relative to the file', () => {
  const yaml = /```yaml\n(# gateway\.yaml\n[\s\S]*?)```/.exec(guide)?.[1];
  assert.ok(yaml, 'the guide shows a gateway.yaml');
  const dir = mkdtempSync(join(tmpdir(), 'edgetwin-guide-'));
  try {
    writeFileSync(join(dir, 'gateway.yaml'), yaml);
    const config = resolveConfig({ config: join(dir, 'gateway.yaml') });
    assert.deepEqual(config.drivers!.map((d) => [d.spec, d.base]), [['edgetwin-driver-acme', dir], ['./drivers/edgetwin-driver-b', dir]]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the lines-of-code table is current', () => {
  const table = /<!-- loc:start -->\n([\s\S]*?)\n<!-- loc:end -->/.exec(guide)?.[1];
  assert.equal(table, locTable(), 'update the table in docs/mapper-guide.md with the lines above');
});

test('every built-in driver.ts stays within the contract\'s 50 to 150 lines', () => {
  const over = ['virtual', 'modbus', 'opcua', 'ble', 'serial']
    .map((p) => ({ p, n: lines(join(root, 'mappers', p, 'driver.ts')) }))
    .filter(({ n }) => n < 50 || n > 150)
    .map(({ p, n }) => `${p}: ${n}`);
  assert.deepEqual(over, [], 'move protocol code out of driver.ts, or plumbing into the runtime');
});
