import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../core/log.ts';
import { makeDevice, RecordingSink, waitFor } from '../sdk/conformance/harness.ts';
import { MapperHost } from '../sdk/host.ts';
import { virtualLoader } from './index.ts';

async function withHost(fn: (host: MapperHost, sink: RecordingSink) => Promise<void>) {
  const sink = new RecordingSink();
  const host = new MapperHost({ sink, drivers: [virtualLoader], log: silentLogger, dataDir: '.', backoff: { initialMs: 10, maxMs: 50 } });
  try {
    await fn(host, sink);
  } finally {
    await host.close();
  }
}

test('faults.disconnectEvery drops the connection and the runtime reconnects', async () => {
  await withHost(async (host, sink) => {
    const d = makeDevice({ name: 'flaky', protocol: 'virtual', config: { faults: { disconnectEvery: 0.05 } }, properties: [{ name: 'v', type: 'int', visitor: { value: 1 } }] });
    await host.apply([d]);
    const drop = await waitFor(() => sink.states.find((s) => s.state === 'offline'), 'an injected disconnect');
    assert.match(drop.reason!, /connection lost: injected disconnect \(faults\.disconnectEvery 0\.05 s\)/);
    await waitFor(() => sink.states.filter((s) => s.state === 'online').length >= 3, 'repeated reconnects');
  });
});

test('faults.errorRate fails that share of reads with EVIRTUAL_FAULT, the rest read good', async () => {
  await withHost(async (host, sink) => {
    const d = makeDevice({ name: 'noisy', protocol: 'virtual', config: { seed: 1, faults: { errorRate: 0.5 } }, properties: [{ name: 'v', type: 'int', collectCycle: 5, visitor: { value: 1 } }] });
    await host.apply([d]);
    await waitFor(() => sink.readings.filter((r) => r.quality === 'bad').length >= 3 && sink.readings.filter((r) => r.quality === 'good').length >= 3, 'both good and failed reads');
    assert.ok(sink.readings.filter((r) => r.quality === 'bad').every((r) => r.error?.code === 'EVIRTUAL_FAULT'));
  });
});

test('a written generator property holds the written value, across a reconfiguration too', async () => {
  await withHost(async (host, sink) => {
    const props = (period: number) => [{ name: 'level', type: 'double' as const, accessMode: 'ReadWrite' as const, visitor: { function: 'sine', min: 0, max: 100, period } }];
    const d = makeDevice({ name: 'tank', protocol: 'virtual', properties: props(1000) });
    await host.apply([d]);
    await waitFor(() => sink.lastState(d.id) === 'online', 'online');
    assert.deepEqual(await host.write(d.id, 'level', 42.5), { ok: true, readBack: 42.5 });
    const d2 = makeDevice({ name: 'tank', protocol: 'virtual', properties: props(2000) });
    assert.deepEqual((await host.apply([d2])).restarted, [d.id]);
    const mark = sink.readings.length;
    await waitFor(() => sink.readings.slice(mark).find((r) => r.property === 'level' && r.quality === 'good'), 'a reading after the restart');
    assert.equal(sink.readings.slice(mark).find((r) => r.quality === 'good')!.value, 42.5);
  });
});
