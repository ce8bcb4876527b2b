// The read pipeline: a poll and the read-back after a write go the same way (codec, block cache,
// report filter), so a read-back leaves the cache as a poll would and reports nothing twice.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { silentLogger } from '../../core/log.ts';
import { waitFor as waitUntil } from '../../core/testing.ts';
import { makeDevice, RecordingSink, waitFor } from './conformance/harness.ts';
import { BYTE_ORDERS, CODEC_TYPES, codecWidth, type CodecSpec, type CodecType } from './codec.ts';
import { defineDriver, SDK_VERSION, type BlockLayout, type RawBlock, type ReadRequest } from './driver.ts';
import { MapperHost } from './host.ts';
import { MapperMetrics } from './metrics.ts';
import { ReadPipeline } from './pipeline.ts';
import { DevicePreparer } from './prepare.ts';
import type { PropertyType } from '../../core/values.ts';

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

/** Where a property of the laid-out test driver sits in the block, and how it is decoded. */
type Placed = { at: number; length: number; codec: CodecSpec };

const placedDriver = defineDriver<Record<string, never>, Placed>({
  name: 'placed',
  sdkVersion: `^${SDK_VERSION}`,
  protocolSchema: { type: 'object' },
  visitorSchema: { type: 'object', required: ['at', 'length', 'codec'] },
  codec: (p) => p.visitor.codec,
  plan: (_d, properties) => [{ properties }],
  async connect() {
    throw new Error('the pipeline is driven directly');
  },
});

const PROPERTY_TYPE: Record<CodecType, PropertyType> = {
  int8: 'int', uint8: 'int', int16: 'int', uint16: 'int', int32: 'int', uint32: 'int', int64: 'int', uint64: 'int',
  float32: 'double', float64: 'double', string: 'string', bool: 'boolean', bit: 'boolean', bytes: 'bytes',
};

/**
 * Feeds the same answers to a pipeline that cuts each block with readings(), one that decodes it
 * in place through a layout, and one whose layout leaves a property to readings(), and checks
 * after each answer that they returned, reported and counted the same. Returns how often each cut.
 */
async function compareInPlace(props: { name: string; type: PropertyType; deadband?: number; reportCycle?: number; codec: CodecSpec; length?: number }[]) {
  let at = 1;
  const device = makeDevice({ name: 'laid', protocol: 'placed', config: {}, properties: props.map((p) => {
    const length = p.length ?? codecWidth(p.codec) ?? 2;
    const visitor: Placed = { at, length, codec: p.codec };
    at += length + (p.name.length % 2);
    return { name: p.name, type: p.type, deadband: p.deadband, reportCycle: p.reportCycle, visitor };
  }) });
  const { prepared, errors } = new DevicePreparer().prepare(device, placedDriver);
  assert.deepEqual(errors, []);
  const req = prepared!.plan[0]! as ReadRequest<Placed>;
  const size = at + 3;
  const offsets = req.properties.map((p) => p.visitor.at);
  const layout: BlockLayout = { offsets, lengths: req.properties.map((p) => p.visitor.length) };
  // One property placed past the end of the block: it goes through readings(), the rest in place.
  const overhanging: BlockLayout = { offsets: offsets.map((o, i) => (i === 3 ? size : o)), lengths: layout.lengths };

  const side = (layoutOf?: BlockLayout) => {
    const sink = new RecordingSink();
    const metrics = new MapperMetrics(new Registry());
    const pipeline = new ReadPipeline(prepared!, sink, metrics);
    let cut = 0;
    const answer = (block: Uint8Array): RawBlock => ({
      block,
      readings: () => {
        cut++;
        return req.properties.map((p) => ({ property: p.name, raw: block.subarray(p.visitor.at, p.visitor.at + p.visitor.length) }));
      },
      ...(layoutOf ? { layout: layoutOf } : {}),
    });
    const counted = async () => ({
      reads: (await metrics.reads.get()).values.map((v) => v.value),
      errors: (await metrics.readErrors.get()).values.map((v) => [v.labels.code, v.value]),
    });
    return { sink, pipeline, answer, counted, cuts: () => cut };
  };
  const cut = side();
  const placed = side(layout);
  const partly = side(overhanging);

  let seed = 3;
  const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
  let block = Uint8Array.from({ length: size }, random);
  let now = 1000;
  for (let step = 0; step < 60; step++) {
    // Mostly some properties move and the rest hold still; every fifth answer is the same block
    // again; a few read-backs; time moves so the reportCycle comes round now and then.
    if (step % 5 !== 4) {
      block = Uint8Array.from(block);
      for (const p of req.properties) if (random() < 100) for (let i = 0; i < p.visitor.length; i++) block[p.visitor.at + i] = random();
    }
    now += 70;
    const readBack = step % 7 === 6;
    const want = cut.pipeline.ingest(req, cut.answer(block), now, readBack);
    for (const other of [placed, partly]) {
      const got = other.pipeline.ingest(req, other.answer(Uint8Array.from(block)), now, readBack);
      assert.deepEqual(got, want, `step ${step}: what ingest returns`);
      assert.deepEqual(other.sink.readings, cut.sink.readings, `step ${step}: what the sink got`);
      assert.deepEqual(await other.counted(), await cut.counted(), `step ${step}: the metrics`);
    }
  }
  return { cut: cut.cuts(), placed: placed.cuts(), partly: partly.cuts(), readings: cut.sink.readings };
}

/** Every codec type in every order, each into the property type it fits. */
function everyCodec() {
  const props: Parameters<typeof compareInPlace>[0] = [];
  for (const type of CODEC_TYPES) {
    for (const order of BYTE_ORDERS) {
      const codec: CodecSpec = { type, order, ...(type === 'bit' ? { bitIndex: 5 } : {}), ...(type === 'string' || type === 'bytes' ? { length: 4 } : {}) };
      props.push({ name: `${type}-${order}`, type: PROPERTY_TYPE[type], codec });
    }
  }
  props.push({ name: 'banded', type: 'double', deadband: 20000, codec: { type: 'uint16' } }, { name: 'cyclic', type: 'int', reportCycle: 300, codec: { type: 'uint8' } });
  return props;
}

test('a block decoded in place through its layout gives the same readings, report decisions, block cache and metrics as its readings(), for every codec type and order', async () => {
  const seen = await compareInPlace(everyCodec());
  assert.equal(seen.placed, 0, 'with a layout that fits, readings() is never called');
  assert.ok(seen.partly > 0, 'a property placed past the block is cut by readings()');
  assert.ok(seen.cut > 0 && seen.cut < 60, `the same block twice is not decoded again (${seen.cut} of 60 answers cut)`);
  assert.ok(seen.readings.some((r) => r.property === 'cyclic' && r.quality === 'good'), 'good readings were compared');
});

test('in place or cut, the same errors: codec errors and values that do not fit the property type', async () => {
  // A value scaled off the integers into an int property, a float into an int, text into an int,
  // a place too short for its type.
  const props: Parameters<typeof compareInPlace>[0] = [
    ...everyCodec(),
    { name: 'scaled-into-int', type: 'int', codec: { type: 'int16', scale: 0.5 } },
    { name: 'float-into-int', type: 'int', codec: { type: 'float32' } },
    { name: 'text-into-int', type: 'int', codec: { type: 'string', length: 2 } },
    { name: 'too-short', type: 'int', codec: { type: 'uint32' }, length: 2 },
  ];
  const seen = await compareInPlace(props);
  assert.equal(seen.placed, 0, 'with a layout that fits, readings() is never called');
  const codes = new Set(seen.readings.map((r) => r.error?.code));
  assert.ok(codes.has('ECODEC') && codes.has('ETYPE'), `codec and type errors were compared (${[...codes].join(', ')})`);
});

test('a layout with a place missing, or not a whole number, is ignored: the block is cut by readings()', () => {
  const counter = { decoded: 0 };
  const { driver, blockOf } = blockDriver([7, 8], counter);
  const device = makeDevice({ name: 'blk', protocol: 'blocks', config: {}, properties: [
    { name: 'a', type: 'int', visitor: { word: 0 } },
    { name: 'b', type: 'int', visitor: { word: 1 } },
  ] });
  const { prepared } = new DevicePreparer().prepare(device, driver);
  const req = prepared!.plan[0]! as ReadRequest<{ word: number }>;
  for (const layout of [{ offsets: [0], lengths: [2] }, { offsets: [0, 1.5], lengths: [2, 2] }, { offsets: [0, 2], lengths: [2, -2] }]) {
    const sink = new RecordingSink();
    const pipeline = new ReadPipeline(prepared!, sink, new MapperMetrics(new Registry()));
    const before = counter.decoded;
    pipeline.ingest(req, { ...blockOf(req), layout }, 1000);
    assert.equal(counter.decoded, before + 1, `${JSON.stringify(layout)} is not used`);
    assert.deepEqual(sink.readings.map((r) => r.value), [7, 8]);
  }
});
