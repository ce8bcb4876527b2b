// The read pipeline: a poll and the read-back after a write go the same way (codec, block cache,
// report filter), so a read-back leaves the cache as a poll would and reports nothing twice.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { silentLogger } from '../../core/log.ts';
import { waitFor as waitUntil } from '../../core/testing.ts';
import { makeDevice, RecordingSink, waitFor } from './conformance/harness.ts';
import { defineDriver, SDK_VERSION, type RawBlock, type ReadRequest } from './driver.ts';
import { MapperHost } from './host.ts';
import { MapperMetrics } from './metrics.ts';
import { ReadPipeline } from './pipeline.ts';
import { DevicePreparer } from './prepare.ts';

/** A device of 16-bit words answered as one block; counts how often a block is decoded. */
function blockDriver(words: number[], counter: { decoded: number }) {
  const blockOf = (req: ReadRequest<{ word: number }>): RawBlock => {
    const block = Uint8Array.from(words.flatMap((w) => [(w >> 8) & 0xff, w & 0xff]));
    return { block, readings: () => { counter.decoded++; return req.properties.map((p) => ({ property: p.name, raw: block.subarray(p.visitor.word * 2, p.visitor.word * 2 + 2) })); } };
  };
  const driver = defineDriver<Record<string, never>, { word: number }>({
    name: 'blocks',
    sdkVersion: `^${SDK_VERSION}`,
    protocolSchema: { type: 'object' },
    visitorSchema: { type: 'object', required: ['word'], properties: { word: { type: 'integer' } } },
    codec: () => ({ type: 'int16' }),
    plan: (_d, properties) => [{ properties }],
    async connect() {
      return {
        async read(req) {
          return blockOf(req);
        },
        async write(p, { raw }) {
          words[p.visitor.word] = (raw![0]! << 8) | raw![1]!;
        },
        async close() {},
      };
    },
  });
  return { driver, blockOf };
}

test('a read-back decodes every property, reports only what changed, and leaves the block cached for the next poll', () => {
  const words = [100, 200];
  const counter = { decoded: 0 };
  const { driver, blockOf } = blockDriver(words, counter);
  const device = makeDevice({ name: 'blk', protocol: 'blocks', config: {}, properties: [
    { name: 'a', type: 'int', accessMode: 'ReadWrite', visitor: { word: 0 } },
    { name: 'b', type: 'int', visitor: { word: 1 } },
  ] });
  const { prepared, errors } = new DevicePreparer().prepare(device, driver);
  assert.deepEqual(errors, []);
  const sink = new RecordingSink();
  const pipeline = new ReadPipeline(prepared!, sink, new MapperMetrics(new Registry()));
  const req = prepared!.plan[0]! as ReadRequest<{ word: number }>;

  pipeline.ingest(req, blockOf(req), 1000);
  assert.deepEqual(sink.readings.map((r) => [r.property, r.value]), [['a', 100], ['b', 200]]);
  assert.equal(counter.decoded, 1);

  words[0] = 150; // the write
  const back = pipeline.ingest(req, blockOf(req), 1001, true);
  assert.deepEqual(back.readings.map((r) => [r.property, r.value]), [['a', 150], ['b', 200]], 'the writer gets every property, the unchanged one too');
  assert.deepEqual(sink.readings.map((r) => [r.property, r.value]), [['a', 100], ['b', 200], ['a', 150]], 'only the change is reported');
  assert.equal(counter.decoded, 2);

  const poll = pipeline.ingest(req, blockOf(req), 1002);
  assert.equal(counter.decoded, 2, 'the next poll finds the read-back block cached and does not decode it');
  assert.deepEqual(poll.readings, []);
  assert.equal(sink.readings.length, 3, 'nothing is reported twice');
});

test('through the host: a write reads back through the pipeline, and polls after it find the block cached', async () => {
  const words = [100, 200];
  const counter = { decoded: 0 };
  const { driver } = blockDriver(words, counter);
  const registry = new Registry();
  const sink = new RecordingSink();
  const host = new MapperHost({ sink, drivers: [{ name: 'blocks', load: async () => driver }], log: silentLogger, dataDir: '.', registry });
  try {
    const device = makeDevice({ name: 'blk', protocol: 'blocks', config: {}, properties: [
      // A long collectCycle: no poll runs between the write and its read-back.
      { name: 'a', type: 'int', accessMode: 'ReadWrite', collectCycle: 300, visitor: { word: 0 } },
      { name: 'b', type: 'int', collectCycle: 300, visitor: { word: 1 } },
    ] });
    assert.deepEqual((await host.apply([device])).errors, []);
    await waitFor(() => sink.latest(device.id, 'b')?.value === 200, 'the first values');
    const outcome = await host.write(device.id, 'a', '150');
    assert.deepEqual(outcome, { ok: true, readBack: 150 });
    const decodedAfterWrite = counter.decoded;
    const reads = async () => (await host.metrics.reads.get()).values.reduce((n, v) => n + v.value, 0);
    const readsAfterWrite = await reads();
    await waitUntil('three more polls', async () => (await reads()) >= readsAfterWrite + 6);
    assert.equal(counter.decoded, decodedAfterWrite, 'polls after the read-back find its block cached');
    assert.deepEqual(sink.readings.filter((r) => r.property === 'a').map((r) => r.value), [100, 150], 'the written value is reported once');
  } finally {
    await host.close();
  }
});

test('pushed readings pass the report filter through the property\'s own slot, shared with its polls, and are counted', async () => {
  // Typed values, no codec: pushed properties as a subscription delivers them, one polled beside them.
  const driver = defineDriver<Record<string, never>, { mode?: string }>({
    name: 'mixed',
    sdkVersion: `^${SDK_VERSION}`,
    protocolSchema: { type: 'object' },
    visitorSchema: { type: 'object', properties: { mode: { type: 'string' } } },
    pushes: (p) => p.visitor.mode !== 'poll',
    plan: (_d, properties) => [{ properties }],
    async connect() {
      return { async read() { return []; }, async write() {}, async subscribe() { return async () => undefined; }, async close() {} };
    },
  });
  const device = makeDevice({ name: 'mix', protocol: 'mixed', config: {}, properties: [
    { name: 'banded', type: 'double', deadband: 0.5, visitor: {} },
    { name: 'cyclic', type: 'double', reportCycle: 1000, visitor: {} },
    { name: 'polled', type: 'double', visitor: { mode: 'poll' } },
  ] });
  const { prepared, errors } = new DevicePreparer().prepare(device, driver);
  assert.deepEqual(errors, []);
  const pushed = prepared!.pushed!;
  assert.deepEqual(pushed.map((p) => p.name), ['banded', 'cyclic']);
  const sink = new RecordingSink();
  const metrics = new MapperMetrics(new Registry());
  const pipeline = new ReadPipeline(prepared!, sink, metrics);
  const reported = () => sink.readings.map((r) => [r.property, r.value ?? r.error?.code]);

  pipeline.pushed(pushed, [{ property: 'banded', value: 10 }, { property: 'cyclic', value: 1 }], 1000);
  pipeline.pushed(pushed, [{ property: 'banded', value: 10.4 }, { property: 'cyclic', value: 1 }], 1500);
  assert.deepEqual(reported(), [['banded', 10], ['cyclic', 1]], 'inside the deadband and an unchanged value stay at the edge');
  pipeline.pushed(pushed, [{ property: 'banded', value: 10.6 }, { property: 'cyclic', value: 1 }], 2000);
  assert.deepEqual(reported().slice(2), [['banded', 10.6], ['cyclic', 1]], 'past the deadband; the unchanged value once its reportCycle came round');
  pipeline.pushed(pushed, [{ property: 'banded', error: { code: 'EBROKEN', message: 'sensor broken' } }, { property: 'nobody', value: 1 }], 2100);
  assert.deepEqual(reported().slice(4), [['banded', 'EBROKEN']], 'a bad reading is reported; a property that is not pushed is ignored');
  assert.equal(pipeline.heard, 3 + 1);

  // A poll of a pushed property (the read-back after a write goes this way) meets the same slot.
  const req = { properties: [pushed[0]!] } as ReadRequest;
  pipeline.pushed(pushed, [{ property: 'banded', value: 20 }], 3000);
  pipeline.ingest(req, [{ property: 'banded', value: 20.2 }], 3100);
  assert.deepEqual(reported().slice(5), [['banded', 20]], 'a polled value inside the deadband of the pushed one is not reported again');

  const reads = (await metrics.reads.get()).values.reduce((n, v) => n + v.value, 0);
  assert.equal(reads, 2 + 2 + 2 + 1 + 1 + 1, 'every pushed reading of a pushed property counts as a read, the ignored one not');
  const errorsCounted = (await metrics.readErrors.get()).values.find((v) => v.labels.code === 'EBROKEN')?.value;
  assert.equal(errorsCounted, 1);
});

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
