// Link death is the runtime's: a driver shares a link through ctx.share and calls `fail` when it
// breaks; every device on it goes offline and reconnects onto a fresh link, and the runtime
// releases each device's lease when its connection closes (the driver's close() does nothing).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { silentLogger } from '../../core/log.ts';
import { makeDevice, RecordingSink, waitFor } from './conformance/harness.ts';
import { defineDriver, SDK_VERSION } from './driver.ts';
import { MapperHost } from './host.ts';

test('a shared link that breaks takes every device on it offline; they reconnect onto a fresh link, released with their connections', async () => {
  const links: { id: number; closed: boolean; fail: (err: Error) => void }[] = [];
  const driver = defineDriver<Record<string, never>, Record<string, never>>({
    name: 'bus',
    sdkVersion: `^${SDK_VERSION}`,
    protocolSchema: { type: 'object' },
    visitorSchema: { type: 'object' },
    async connect(_device, ctx) {
      const lease = await ctx.share('bus:one', async (fail) => {
        const link = { id: links.length, closed: false, fail, close: () => { link.closed = true; } };
        links.push(link);
        return link;
      });
      return {
        async read(req) {
          return req.properties.map((p) => ({ property: p.name, value: lease.link.id }));
        },
        async write() {},
        async close() {},
      };
    },
  });
  const sink = new RecordingSink();
  const host = new MapperHost({ sink, drivers: [{ name: 'bus', load: async () => driver }], log: silentLogger, dataDir: '.', registry: new Registry(), backoff: { initialMs: 20, maxMs: 100 } });
  const devices = ['a', 'b'].map((name) => makeDevice({ name, protocol: 'bus', config: {}, properties: [{ name: 'link', type: 'int', collectCycle: 50, visitor: {} }] }));
  try {
    assert.deepEqual((await host.apply(devices)).errors, []);
    for (const d of devices) await waitFor(() => sink.latest(d.id, 'link')?.value === 0, `${d.id} on the first link`);
    assert.equal(links.length, 1, 'one link for both devices');
    links[0]!.fail(new Error('the bus went away'));
    for (const d of devices) await waitFor(() => sink.states.find((s) => s.device === d.id && s.state === 'offline' && /the bus went away/.test(s.reason ?? '')), `${d.id} offline with the reason`);
    for (const d of devices) await waitFor(() => sink.latest(d.id, 'link')?.value === 1, `${d.id} on the fresh link`);
    assert.equal(links.length, 2);
    await waitFor(() => links[0]!.closed, 'the broken link closed once both let go');
    await host.apply([]);
    assert.equal(links[1]!.closed, true, 'released with the connections, though the driver\'s close() did nothing');
  } finally {
    await host.close();
  }
});
