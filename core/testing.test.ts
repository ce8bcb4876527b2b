// freePort() hands out only ports a test can reach with fetch(): the Fetch standard's "bad ports"
// list has one in the test range, 10080, and Node's fetch refuses it before connecting (a gateway
// started there in CI never answered /healthz).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { freePort, testPortUsable } from './testing.ts';

test('freePort never hands out a port fetch() refuses, nor one outside 10000-32767', async () => {
  await assert.rejects(fetch('http://127.0.0.1:10080/'), (err: Error & { cause?: Error }) => /bad port/.test(String(err.cause?.message)));
  assert.equal(testPortUsable(10080), false);
  assert.equal(testPortUsable(9999), false);
  assert.equal(testPortUsable(32768), false);
  assert.equal(testPortUsable(10081), true);
  for (let i = 0; i < 50; i++) assert.ok(testPortUsable(await freePort()));
});
