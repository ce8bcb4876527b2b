import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { MapperMetrics } from './metrics.ts';

test('driver events and reads are summed until collected, and a forgotten device leaves no series', async () => {
  const registry = new Registry();
  const metrics = new MapperMetrics(registry);
  for (let i = 0; i < 3; i++) metrics.countEvent('default/a', 'serial', 'frames_dropped', 1);
  metrics.countEvent('default/b', 'serial', 'frames_dropped', 2);
  metrics.countReads('default/a', 'serial', 5);
  metrics.lateness.observe({ device: 'default/a', protocol: 'serial' }, 0.002);
  metrics.setState('default/a', 'serial', 'online');
  let text = await registry.metrics();
  assert.match(text, /edgetwin_mapper_driver_events_total\{device="default\/a",protocol="serial",event="frames_dropped"\} 3/);
  assert.match(text, /edgetwin_mapper_driver_events_total\{device="default\/b",protocol="serial",event="frames_dropped"\} 2/);
  assert.match(text, /edgetwin_mapper_reads_total\{device="default\/a",protocol="serial"\} 5/);
  metrics.countEvent('default/a', 'serial', 'frames_dropped', 1);
  metrics.forget('default/a', 'serial');
  text = await registry.metrics();
  assert.ok(!text.includes('device="default/a"'), text);
  assert.match(text, /event="frames_dropped"\} 2/, 'the other device keeps its series');
});

test('hosts sharing a registry feed the same counters', async () => {
  const registry = new Registry();
  const one = new MapperMetrics(registry);
  const two = new MapperMetrics(registry);
  one.countEvent('default/a', 'serial', 'frames_dropped', 1);
  two.countEvent('default/a', 'serial', 'frames_dropped', 1);
  assert.match(await registry.metrics(), /event="frames_dropped"\} 2/);
});
