// A driver hook that computes synchronously holds every device: the runtime measures the
// synchronous part of each hook call, exports the longest per protocol and hook, and warns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { createLogger } from '../../core/log.ts';
import { defineDriver, SDK_VERSION } from './driver.ts';
import { MapperHost } from './host.ts';
import { makeDevice, RecordingSink, waitFor } from './testing.ts';

/** Spins for at least `ms`: the measured time cannot be shorter, whatever the machine's load. */
function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

test('the longest synchronous hook call is a metric per protocol and hook, and a warning', async () => {
  const lines: string[] = [];
  const destination = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(...chunk.toString('utf8').split('\n').filter(Boolean)); done(); } });
  const registry = new Registry();
  const driver = defineDriver<Record<string, never>, Record<string, never>>({
    name: 'spinner', sdkVersion: `^${SDK_VERSION}`, protocolSchema: { type: 'object' }, visitorSchema: { type: 'object' },
    async connect() {
      return {
        // Not async: the spin runs before the promise exists, as careless decode loops do.
        read: (request) => { spin(30); return Promise.resolve(request.properties.map((p) => ({ property: p.name, value: 1 }))); },
        async write() {},
        async close() {},
      };
    },
  });
  const sink = new RecordingSink();
  const host = new MapperHost({ sink, drivers: [{ name: 'spinner', load: async () => driver }], log: createLogger({ destination }), dataDir: '.', registry, blockingWarnMs: 20 });
  try {
    const d = makeDevice({ name: 'hot', protocol: 'spinner', properties: [{ name: 'v', type: 'int', collectCycle: 50 }] });
    await host.apply([d]);
    await waitFor(() => sink.latest(d.id, 'v')?.quality === 'good', 'a reading');
    const metric = await registry.getSingleMetric('edgetwin_mapper_driver_blocking_seconds')!.get();
    const read = metric.values.find((v) => v.labels.hook === 'read' && v.labels.protocol === 'spinner');
    assert.ok(read && read.value >= 0.03, `read held the loop at least 30 ms, metric says ${read?.value}`);
    const warning = await waitFor(() => lines.find((l) => l.includes("spinner driver's read() held the event loop")), 'the warning');
    assert.equal(JSON.parse(warning).level, 40);
  } finally {
    await host.close();
  }
});
