// The subscription's PushChannel (push-batch.ts): values handed over by property index reach the
// sink as one batch after the driver's synchronous stretch, filtered and counted like emitted ones.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { silentLogger } from '../../core/log.ts';
import { makeDevice, RecordingSink, waitFor } from './conformance/harness.ts';
import { defineDriver, SDK_VERSION } from './driver.ts';
import { MapperHost } from './host.ts';
import { MapperMetrics } from './metrics.ts';
import { ReadPipeline } from './pipeline.ts';
import { DevicePreparer } from './prepare.ts';

test('a push channel: values by index reach the sink as one batch after the synchronous stretch, in order with readings and emits, filtered and counted', async () => {
  const driver = defineDriver<Record<string, never>, { scale?: number }>({
    name: 'channelled',
    sdkVersion: `^${SDK_VERSION}`,
    protocolSchema: { type: 'object' },
    visitorSchema: { type: 'object', properties: { scale: { type: 'number' } } },
    async connect() {
      return { async read() { return []; }, async write() {}, async subscribe() { return async () => undefined; }, async close() {} };
    },
  });
  const device = makeDevice({ name: 'chan', protocol: 'channelled', config: {}, properties: [
    { name: 'level', type: 'double', deadband: 0.5, visitor: { scale: 10 } },
    { name: 'count', type: 'int', visitor: {} },
    { name: 'temp', type: 'double', visitor: {} },
  ] });
  const { prepared, errors } = new DevicePreparer().prepare(device, driver);
  assert.deepEqual(errors, []);
  const props = prepared!.binding.properties;
  const sink = new RecordingSink();
  const metrics = new MapperMetrics(new Registry());
  const pipeline = new ReadPipeline(prepared!, sink, metrics);
  let live = true;
  let now = 5000;
  const channel = pipeline.channel(props, () => live, () => now);
  const batches: number[] = [];
  const report = sink.report.bind(sink);
  sink.report = (readings) => {
    batches.push(readings.length);
    report(readings);
  };
  const reported = () => sink.readings.map((r) => [r.property, r.value ?? r.error?.code, r.quality, r.time]);

  channel.value(0, 1.5, 1234);
  channel.value(1, 7, undefined, 'uncertain');
  channel.reading({ property: 'count', error: { code: 'EBROKEN', message: 'sensor broken' } });
  channel.value(1, 2.5);
  channel.value(2, 21.5, 1300);
  channel.value(2, Infinity, 1301);
  channel.value(2, '22.5', 1302);
  assert.deepEqual(sink.readings, [], 'nothing is delivered inside the driver\'s synchronous stretch');
  await Promise.resolve();
  assert.deepEqual(reported(), [
    ['level', 15, 'good', 1234], // the visitor's scale applies; the source time is kept
    ['count', 7, 'uncertain', 5000], // no source time: the batch's now
    ['count', 'EBROKEN', 'bad', 5000],
    ['count', 'ETYPE', 'bad', 5000], // 2.5 is no int: a bad reading that says why, never a wrong value
    ['temp', 21.5, 'good', 1300],
    ['temp', 'ETYPE', 'bad', 1301], // only finite numbers
    ['temp', 22.5, 'good', 1302], // text converts as a polled value's would
  ]);
  assert.deepEqual(batches, [7], 'one batch');
  assert.equal(pipeline.heard, 1);

  now = 6000;
  channel.value(0, 1.54); // 15.4: inside the deadband of 15
  channel.value(0, 1.56); // 15.6: beyond it
  channel.value(1, 8);
  // An emit() meanwhile goes after what the channel holds.
  pipeline.pushed(props, [{ property: 'count', value: 9 }], now);
  assert.deepEqual(reported().slice(7).map(([p, v]) => [p, v]), [['level', 15.6], ['count', 8], ['count', 9]]);
  assert.deepEqual(batches.slice(1), [2, 1]);

  live = false; // the connection was replaced: what it still hands over is dropped
  channel.value(1, 10);
  await Promise.resolve();
  assert.equal(sink.readings.length, 10);
  assert.throws(() => channel.value(3, 1), /PushChannel\.value: property index 3 is outside the 3 subscribed properties/);

  const reads = (await metrics.reads.get()).values.reduce((n, v) => n + v.value, 0);
  assert.equal(reads, 7 + 3 + 1, 'every value handed over counts as a read, the dropped one not');
  const codes = (await metrics.readErrors.get()).values.map((v) => [v.labels.code, v.value]);
  assert.deepEqual(codes.sort(), [['EBROKEN', 1], ['ETYPE', 2]]);
});

test('through the host: a driver that pushes through the channel and one that only emits both reach the sink', async () => {
  const driverOf = (name: string, useChannel: boolean) => defineDriver<Record<string, never>, Record<string, never>>({
    name,
    sdkVersion: `^${SDK_VERSION}`,
    protocolSchema: { type: 'object' },
    visitorSchema: { type: 'object' },
    async connect() {
      return {
        async read() { return []; },
        async write() {},
        async subscribe(properties, emit, push) {
          let n = 0;
          const timer = setInterval(() => {
            n++;
            // Third-party drivers written for SDK 1.1 have two parameters and emit; ours may use the channel.
            if (useChannel) properties.forEach((_p, i) => push!.value(i, n * 10 + i));
            else emit(properties.map((p, i) => ({ property: p.name, value: n * 10 + i })));
          }, 20);
          return async () => clearInterval(timer);
        },
        async close() {},
      };
    },
  });
  const sink = new RecordingSink();
  const host = new MapperHost({ sink, drivers: [{ name: 'chan', load: async () => driverOf('chan', true) }, { name: 'emits', load: async () => driverOf('emits', false) }], log: silentLogger, dataDir: '.', registry: new Registry() });
  try {
    const devices = ['chan', 'emits'].map((protocol) => makeDevice({ name: `d-${protocol}`, protocol, config: {}, properties: [
      { name: 'a', type: 'int', visitor: {} },
      { name: 'b', type: 'int', visitor: {} },
    ] }));
    assert.deepEqual((await host.apply(devices)).errors, []);
    for (const d of devices) {
      await waitFor(() => (sink.latest(d.id, 'b')?.value as number) >= 31, `${d.id} pushes values`);
      assert.equal((sink.latest(d.id, 'a')!.value as number) % 10, 0);
    }
  } finally {
    await host.close();
  }
});
