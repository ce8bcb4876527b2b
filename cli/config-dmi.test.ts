import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { resolveConfig } from './config.ts';

test('dmi is off by default; its socket is {dataDir}/dmi.sock', () => {
  const c = resolveConfig({ dataDir: '/var/lib/et' });
  assert.deepEqual(c.dmi, { enabled: false, socket: '/var/lib/et/dmi.sock', retryMs: undefined });
});

test('--dmi-socket turns dmi on and moves the socket', () => {
  const c = resolveConfig({ dmiSocket: 'run/dmi.sock' });
  assert.equal(c.dmi.enabled, true);
  assert.equal(c.dmi.socket, resolve('run/dmi.sock'));
});

test('dmi keys in the file: the socket is relative to the file; a typo is named', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgetwin-dmi-config-'));
  writeFileSync(join(dir, 'a.yaml'), 'dmi:\n  enabled: true\n  socket: sock/dmi.sock\n  retryMs: 250\n');
  assert.deepEqual(resolveConfig({ config: join(dir, 'a.yaml') }).dmi, { enabled: true, socket: join(dir, 'sock', 'dmi.sock'), retryMs: 250 });
  writeFileSync(join(dir, 'b.yaml'), 'dmi:\n  enable: true\n');
  assert.throws(() => resolveConfig({ config: join(dir, 'b.yaml') }), (e: Error) => /unknown config key "dmi.enable"/.test(e.message) && /did you mean "dmi.enabled"/.test(String((e as { hint?: string }).hint)));
});
