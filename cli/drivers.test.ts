// Driver packages: found by name or path, checked by shape, each failure an error naming the
// package and the fix while the other drivers load; the host names the package when its driver
// fails, and the hint for an unknown protocol says how to add one (or to rebuild a stale dist/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { silentLogger } from '../core/log.ts';
import { MapperHost } from '../mappers/sdk/host.ts';
import { makeDevice, RecordingSink, waitFor } from '../mappers/sdk/testing.ts';
import { resolveConfig } from './config.ts';
import { loadDrivers, unknownProtocolHint } from './drivers.ts';

const run = promisify(execFile);
const cli = join(import.meta.dirname, 'bin', 'edgetwin.js');

/** A plain-JavaScript driver package: no edgetwin import at all, which the shape check allows. */
const echoDriver = (name: string, sdk = '^1.0.0') => `
const driver = {
  name: '${name}', sdkVersion: '${sdk}',
  protocolSchema: { type: 'object' }, visitorSchema: { type: 'object', required: ['value'] },
  async connect() {
    return {
      async read(request) { return request.properties.map((p) => ({ property: p.name, value: p.visitor.value })); },
      async write() {},
      async close() {},
    };
  },
};
export default { name: '${name}', load: async () => driver };
`;

function writePackage(dir: string, name: string, files: Record<string, string>, pkg: Record<string, unknown> = {}) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.2.3', type: 'module', ...pkg }));
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
}

function project() {
  const dir = mkdtempSync(join(tmpdir(), 'edgetwin-drivers-'));
  writePackage(join(dir, 'node_modules', 'edgetwin-driver-echo'), 'edgetwin-driver-echo', { 'main.js': echoDriver('echo') }, { exports: { '.': { import: './main.js' } } });
  writePackage(join(dir, 'node_modules', 'edgetwin-driver-broken'), 'edgetwin-driver-broken', { 'index.js': 'throw new Error("cannot find module serial-magic");' });
  writePackage(join(dir, 'node_modules', 'edgetwin-driver-shapeless'), 'edgetwin-driver-shapeless', { 'index.js': 'export default { protocol: "x" };' });
  writePackage(join(dir, 'node_modules', 'edgetwin-driver-modbus2'), 'edgetwin-driver-modbus2', { 'index.js': echoDriver('modbus') });
  writePackage(join(dir, 'local-driver'), 'local-driver', { 'index.js': echoDriver('local') });
  writePackage(join(dir, 'node_modules', 'edgetwin-driver-future'), 'edgetwin-driver-future', { 'index.js': echoDriver('future', '^2.0.0') });
  writePackage(join(dir, 'node_modules', 'edgetwin-driver-faulty'), 'edgetwin-driver-faulty', { 'index.js': 'export default [{ name: "faulty", load: async () => { throw new Error("libfaulty.so: cannot open shared object file"); } }];' });
  return dir;
}

test('packages load by name and path beside the built-in drivers; each bad one is an error naming it and the fix', async () => {
  const dir = project();
  try {
    const refs = ['edgetwin-driver-echo', './local-driver', 'edgetwin-driver-missing', 'edgetwin-driver-broken', 'edgetwin-driver-shapeless', 'edgetwin-driver-modbus2']
      .map((spec) => ({ spec, base: dir, via: '--driver' }));
    const { loaders, listed, errors } = await loadDrivers(refs);
    assert.deepEqual(loaders.map((l) => l.name), ['virtual', 'modbus', 'bluetooth', 'opcua', 'serial', 'echo', 'local']);
    assert.equal(listed.find((d) => d.protocol === 'echo')?.source, 'edgetwin-driver-echo@1.2.3');
    assert.equal(listed.find((d) => d.protocol === 'echo')?.location, join(dir, 'node_modules', 'edgetwin-driver-echo', 'main.js'));
    assert.equal(listed.find((d) => d.protocol === 'local')?.kind, 'path');
    assert.equal(listed.find((d) => d.protocol === 'modbus')?.source, 'built-in');
    const text = errors.map((e) => e.format());
    assert.equal(text.length, 4, text.join('\n'));
    assert.match(text[0]!, /driver package edgetwin-driver-missing is not installed .*npm install edgetwin-driver-missing/);
    assert.match(text[1]!, /driver edgetwin-driver-broken@1.2.3 failed to import .*cannot find module serial-magic.*npm ls/);
    assert.match(text[2]!, /edgetwin-driver-shapeless@1.2.3 .*name must be a non-empty string.*export default a driver loader/);
    assert.match(text[3]!, /edgetwin-driver-modbus2@1.2.3 serves protocol "modbus", which the built-in driver already serves/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a driver that throws at load or wants another SDK fails its devices with the package named; other devices run', async () => {
  const dir = project();
  const sink = new RecordingSink();
  try {
    const { loaders } = await loadDrivers(['edgetwin-driver-faulty', 'edgetwin-driver-future', 'edgetwin-driver-echo'].map((spec) => ({ spec, base: dir, via: '--driver' })));
    const host = new MapperHost({ sink, drivers: loaders, log: silentLogger, dataDir: dir, unknownProtocolHint: unknownProtocolHint(loaders) });
    try {
      const devices = ['faulty', 'future', 'echo', 'nosuch'].map((protocol) => makeDevice({ name: `d-${protocol}`, protocol, properties: [{ name: 'v', type: 'string', visitor: { value: 'hello' } }] }));
      const { started, errors } = await host.apply(devices);
      assert.deepEqual(started, ['default/d-echo']);
      const text = errors.map((e) => e.format());
      assert.match(text[0]!, /the faulty driver \(from edgetwin-driver-faulty@1.2.3\) failed to load: libfaulty.so.*npm ls/);
      assert.match(text[1]!, /the future driver \(from edgetwin-driver-future@1.2.3\) was written for mapper SDK \^2.0.0, this gateway runs 1\./);
      assert.match(text[2]!, /no driver for protocol "nosuch".*--driver <package or path>.*drivers:/);
      await waitFor(() => sink.latest('default/d-echo', 'v')?.value === 'hello', 'the echo device to read');
    } finally {
      await host.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a protocol folder the running bundle lacks says to rebuild dist/', () => {
  const root = mkdtempSync(join(tmpdir(), 'edgetwin-stale-'));
  try {
    mkdirSync(join(root, 'mappers', 'line'), { recursive: true });
    writeFileSync(join(root, 'mappers', 'line', 'index.ts'), 'export default {};');
    assert.match(unknownProtocolHint([], root, true)('line'), /dist\/ bundle was built without it: rebuild with `npm run build`/);
    assert.match(unknownProtocolHint([], root, false)('line'), /cli\/drivers.ts does not list it/);
    assert.match(unknownProtocolHint([], root, true)('other'), /--driver/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('`drivers:` in a config file resolves from the file\'s folder, --driver from the working directory; `edgetwin drivers` lists both and `validate --driver` uses them', async () => {
  const dir = project();
  try {
    const config = join(dir, 'gateway.yaml');
    writeFileSync(config, 'drivers:\n  - edgetwin-driver-echo\n  - ./local-driver\n');
    const resolved = resolveConfig({ config, drivers: ['./elsewhere'] });
    assert.deepEqual(resolved.drivers, [
      { spec: 'edgetwin-driver-echo', base: dir, via: config },
      { spec: './local-driver', base: dir, via: config },
      { spec: './elsewhere', base: process.cwd(), via: '--driver' },
    ]);
    const { stdout } = await run(process.execPath, [cli, 'drivers', '--config', config]);
    assert.match(stdout, /^echo\s+-\s+edgetwin-driver-echo@1\.2\.3\s+\S+main\.js$/m);
    assert.match(stdout, /^local\s+-\s+local-driver@1\.2\.3\s/m);
    assert.match(stdout, /^modbus\s+-\s+built-in\s/m);
    const device = join(dir, 'device.yaml');
    writeFileSync(device, [
      'apiVersion: devices.kubeedge.io/v1beta1', 'kind: DeviceModel', 'metadata: { name: m }', 'spec:', '  properties: [{ name: v, type: STRING, accessMode: ReadOnly }]', '---',
      'apiVersion: devices.kubeedge.io/v1beta1', 'kind: Device', 'metadata: { name: d }', 'spec:', '  deviceModelRef: { name: m }', '  protocol: { protocolName: local }',
      '  properties: [{ name: v, visitors: { protocolName: local, configData: { value: x } } }]', '',
    ].join('\n'));
    const validated = await run(process.execPath, [cli, 'validate', device, '--driver', './local-driver'], { cwd: dir });
    assert.match(validated.stdout, /^1 device\(s\) valid/m);
    const unknown = await run(process.execPath, [cli, 'validate', device], { cwd: dir }).catch((e: { code: number; stderr: string }) => e);
    assert.match((unknown as { stderr: string }).stderr, /no driver for protocol "local".*--driver <package or path>/);
    const failed = await run(process.execPath, [cli, 'drivers', '--config', config, '--driver', 'edgetwin-driver-missing'], { cwd: dir }).catch((e: { code: number; stderr: string }) => e);
    assert.equal((failed as { code: number }).code, 1);
    assert.match((failed as { stderr: string }).stderr, /--driver: driver package edgetwin-driver-missing is not installed/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
