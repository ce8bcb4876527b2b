// A mapper log line names its device once: the runtime's child logger carries device and
// protocol, so no line adds them again (a JSON line with a key twice confuses log tools).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../../core/log.ts';
import { virtualLoader } from '../virtual/index.ts';
import { makeDevice, RecordingSink, waitFor } from './testing.ts';
import { MapperHost } from './host.ts';

test('connect, lost connection and reconnect log lines carry "device" once', async () => {
  const lines: string[] = [];
  const destination = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(...chunk.toString('utf8').split('\n').filter(Boolean)); done(); } });
  const sink = new RecordingSink();
  const host = new MapperHost({ sink, drivers: [virtualLoader], log: createLogger({ destination, level: 'debug' }), dataDir: '.', backoff: { initialMs: 10, maxMs: 50 } });
  try {
    const d = makeDevice({ name: 'flaky', protocol: 'virtual', config: { faults: { disconnectEvery: 0.05 } }, properties: [{ name: 'v', type: 'int', visitor: { value: 1 } }] });
    await host.apply([d]);
    await waitFor(() => lines.some((l) => l.includes('reconnecting after backoff')) && lines.filter((l) => l.includes('device connected')).length >= 2, 'a drop and a reconnect');
  } finally {
    await host.close();
  }
  const runnerLines = lines.filter((l) => /device connected|connection lost|reconnecting/.test(l));
  assert.ok(runnerLines.length >= 3);
  for (const line of runnerLines) assert.equal(line.split('"device":').length - 1, 1, line);
});
