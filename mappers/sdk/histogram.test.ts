import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Histogram, Registry } from 'prom-client';
import { DeviceHistogram } from './histogram.ts';

const buckets = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5];
const observations: [string, number][] = [['a', 0.0004], ['a', 0.001], ['a', 0.003], ['b', 0.2], ['a', 7], ['b', 0.05], ['a', 0.0099]];

test('prints exactly what a prom-client Histogram prints for the same observations', async () => {
  const ours = new Registry();
  const theirs = new Registry();
  const h = new DeviceHistogram({ name: 'x_seconds', help: 'help text', buckets, registers: [ours] });
  const reference = new Histogram({ name: 'x_seconds', help: 'help text', labelNames: ['device', 'protocol'], buckets, registers: [theirs] });
  for (const [device, v] of observations) {
    h.observe({ device, protocol: 'modbus' }, v);
    reference.observe({ device, protocol: 'modbus' }, v);
  }
  assert.equal(await ours.metrics(), await theirs.metrics());
});

test('a removed device leaves no series; reset clears all', async () => {
  const registry = new Registry();
  const h = new DeviceHistogram({ name: 'y_seconds', help: 'h', buckets, registers: [registry] });
  h.observe({ device: 'a', protocol: 'p' }, 0.002);
  h.observe({ device: 'b', protocol: 'p' }, 0.002);
  h.remove({ device: 'a', protocol: 'p' });
  const text = await registry.metrics();
  assert.ok(!text.includes('device="a"'));
  assert.match(text, /y_seconds_count\{device="b",protocol="p"\} 1/);
  h.reset();
  assert.ok(!(await registry.metrics()).includes('device="b"'));
});
