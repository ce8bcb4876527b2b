// A pushMethod address from a Device YAML may carry credentials: the warnings about an
// unreachable target name it without the password.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { createLogger } from '../core/log.ts';
import { PushForwarder } from '../twin/push.ts';
import { device, freePort, property, waitFor } from '../twin/testing.ts';

test('pushMethod warnings show the target with its password as ***', async () => {
  let out = '';
  const log = createLogger({ level: 'debug', destination: new Writable({ write: (c, _e, done) => ((out += c), done()) }) });
  const deadPort = await freePort();
  const address = `tcp://pusher:hunter2-secret@127.0.0.1:${deadPort}`;
  const push = new PushForwarder({ log, registry: new Registry() });
  const meter = device('meter', [property('power', { type: 'float', pushMethod: { mqtt: { address, topic: 't', qos: 0, retained: false } } })]);
  try {
    push.push(meter, meter.properties[0]!, { property: 'power', type: 'float', text: '1.5', time: Date.now(), quality: 'good', error: undefined, deltaChanged: false });
    await waitFor('the dropped reading warned about', () => /not connected, reading dropped/.test(out), 10_000, 20);
  } finally {
    await push.close();
  }
  assert.ok(!out.includes('hunter2-secret'), out);
  assert.match(out, /pusher:\*\*\*@127\.0\.0\.1/);
});
