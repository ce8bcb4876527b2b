// A kit failure caused by the driver names what the driver threw and the author's file:line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

test('kit failures quote the driver\'s error with its own file and line', async () => {
  const fixture = new URL('./example/refusing.fixture.ts', import.meta.url);
  const line = readFileSync(fixture, 'utf8').split('\n').findIndex((l) => l.includes('THROWS HERE')) + 1;
  // The child's node:test must print, not report to this runner.
  const { NODE_TEST_CONTEXT: _runner, ...env } = process.env;
  const out = await run(process.execPath, ['--import', 'tsx', '--enable-source-maps', '--test', '--test-reporter=spec', fixture.pathname], { env })
    .then(() => assert.fail('the kit must fail against a driver that cannot connect'), (e: { stdout: string; stderr: string }) => e.stdout + e.stderr);
  assert.match(out, /gave up after \d+ ms waiting for the device to go online/);
  assert.match(out, /last device state: offline \(.*handshake/);
  assert.match(out, /connect\(\): EHANDSHAKE the instrument wants a handshake first/);
  assert.match(out, new RegExp(`refusing\\.fixture\\.ts:${line}:\\d+`));
});
