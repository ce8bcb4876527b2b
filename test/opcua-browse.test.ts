// `edgetwin opcua browse`: the real CLI walks a node-opcua server and prints a proposal that passes
// `edgetwin validate`, maps DataTypes and AccessLevel, and reads good values when run.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { loadDevices } from '../core/model/load.ts';
import { silentLogger } from '../core/log.ts';
import { validateCommand } from '../cli/validate.ts';
import { MapperHost } from '../mappers/sdk/index.ts';
import { RecordingSink, waitFor } from '../mappers/sdk/testing.ts';
import { opcuaLoader } from '../mappers/opcua/index.ts';
import { startTestServer, type TestServer } from '../mappers/opcua/testing/spawn.ts';

const ROOT = resolve(import.meta.dirname, '..');
let server: TestServer;
const dir = mkdtempSync(join(tmpdir(), 'edgetwin-opcua-browse-'));

before(async () => {
  server = await startTestServer({ trustAll: true });
});
after(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'cli', 'main.ts'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((r) => child.on('exit', (code) => r({ code, stdout, stderr })));
}

test('browse proposes a DeviceModel and Device that validate and read', async () => {
  const out = await cli(['opcua', 'browse', server.url, '--depth', '3', '--filter', 'Test/*', '--name', 'Test Bench', '--data-dir', join(dir, 'data')]);
  assert.equal(out.code, 0, out.stderr);
  const file = join(dir, 'proposal.yaml');
  writeFileSync(file, out.stdout);
  const [model, device] = parseAllDocuments(out.stdout).map((d) => d.toJS());
  assert.equal(model.kind, 'DeviceModel');
  assert.equal(device.kind, 'Device');
  assert.equal(device.metadata.name, 'test-bench');
  const props = new Map<string, { type: string; accessMode: string }>(model.spec.properties.map((p: { name: string }) => [p.name, p]));
  const expect: Record<string, [string, string]> = {
    boolean: ['BOOLEAN', 'ReadWrite'], sByte: ['INT', 'ReadWrite'], int64: ['INT', 'ReadWrite'], uInt64: ['INT', 'ReadWrite'],
    float: ['FLOAT', 'ReadWrite'], double: ['DOUBLE', 'ReadWrite'], string: ['STRING', 'ReadWrite'], byteString: ['BYTES', 'ReadWrite'],
    counter: ['INT', 'ReadOnly'], numeric: ['INT', 'ReadOnly'],
  };
  for (const [name, [type, accessMode]] of Object.entries(expect)) {
    assert.deepEqual([props.get(name)?.type, props.get(name)?.accessMode], [type, accessMode], name);
  }
  const numeric = device.spec.properties.find((p: { name: string }) => p.name === 'numeric');
  assert.equal(numeric.visitors.configData.nodeID, 'ns=1;i=1001');

  const errs: string[] = [];
  const code = await validateCommand([file], { write: () => true } as never, { write: (s: string) => errs.push(s) } as never);
  assert.equal(code, 0, errs.join(''));

  const loaded = await loadDevices([file]);
  assert.deepEqual(loaded.errors.map((e) => e.format()), []);
  const sink = new RecordingSink();
  const host = new MapperHost({ sink, drivers: [opcuaLoader], log: silentLogger, dataDir: join(dir, 'data') });
  try {
    await host.apply(loaded.devices);
    const id = loaded.devices[0]!.id;
    for (const name of props.keys()) await waitFor(() => sink.latest(id, name)?.quality === 'good' || undefined, `a good reading of ${name}`, 30_000);
  } finally {
    await host.close();
  }
});

test('browse --uris writes namespace URIs', async () => {
  const out = await cli(['opcua', 'browse', server.url, '--filter', 'Test/Numeric', '--uris', '--json', '--data-dir', join(dir, 'data')]);
  assert.equal(out.code, 0, out.stderr);
  assert.deepEqual(JSON.parse(out.stdout).map((v: { nodeId: string }) => v.nodeId), ['nsu=urn:edgetwin:test-server;i=1001']);
});

test('browse fails with one clear line when the server is not there', async () => {
  const out = await cli(['opcua', 'browse', 'opc.tcp://127.0.0.1:1', '--data-dir', join(dir, 'data'), '--timeout', '3']);
  assert.equal(out.code, 1);
  assert.match(out.stderr, /^error: .*127\.0\.0\.1:1/m);
  assert.doesNotMatch(out.stderr, /\n\s+at /, 'no stack trace');
});
