// The OPC UA driver through the mapper runtime, against a node-opcua server in its own process:
// subscriptions with source timestamps, polling with one ReadRequest per cycle, writes of each
// scalar type with the node's DataType, and a node that goes Bad then Good.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../core/log.ts';
import { sameValue, type PropertyType, type PropertyValue } from '../core/values.ts';
import { MapperHost } from '../mappers/sdk/index.ts';
import { makeDevice, RecordingSink, waitFor } from '../mappers/sdk/testing.ts';
import { opcuaLoader } from '../mappers/opcua/index.ts';
import { startTestServer, type TestServer } from '../mappers/opcua/testing/spawn.ts';

let server: TestServer;
const dataDir = mkdtempSync(join(tmpdir(), 'edgetwin-opcua-'));

before(async () => {
  server = await startTestServer({ trustAll: true });
});
after(async () => {
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function withHost<T>(fn: (host: MapperHost, sink: RecordingSink) => Promise<T>): Promise<T> {
  const sink = new RecordingSink();
  const host = new MapperHost({ sink, drivers: [opcuaLoader], log: silentLogger, dataDir, backoff: { initialMs: 100, maxMs: 1000 } });
  try {
    return await fn(host, sink);
  } finally {
    await host.close();
  }
}

const good = (sink: RecordingSink, property: string) => sink.readings.filter((r) => r.property === property && r.quality === 'good');

describe('opcua data', () => {
  test('subscriptions push changes in order, with the server source timestamp', async () => {
    await withHost(async (host, sink) => {
      const d = makeDevice({ name: 'sub', protocol: 'opcua', config: { url: server.url }, properties: [
        { name: 'counter', type: 'int', visitor: { nodeID: 'ns=1;s=Test.Counter' }, collectCycle: 100 },
        { name: 'numeric', type: 'int', visitor: { nodeID: 'ns=1;i=1001' } },
        { name: 'byUri', type: 'double', visitor: { nodeID: 'nsu=urn:edgetwin:test-server;s=Test.Double' } },
        { name: 'text', type: 'string', visitor: { browsePath: '/Objects/Test/String' } },
        { name: 'kubeedgeBrowseName', type: 'boolean', visitor: { browseName: 'Test/Boolean' } },
        { name: 'missing', type: 'double', visitor: { nodeID: 'ns=1;s=Test.Missing' } },
        { name: 'stamped', type: 'double', visitor: { nodeID: 'ns=1;s=Test.Stamped' } },
      ] });
      const { errors } = await host.apply([d]);
      assert.deepEqual(errors.map((e) => e.format()), []);
      const before = Date.now();
      await waitFor(() => good(sink, 'counter').length >= 5, 'five counter changes');
      const values = good(sink, 'counter').map((r) => Number(r.value));
      assert.deepEqual([...values].sort((a, b) => a - b), values, 'counter values arrive in order');
      assert.equal(new Set(values).size, values.length, 'each change arrives once');
      for (const r of good(sink, 'counter')) assert.ok(r.time <= Date.now() && r.time > before - 60_000, 'the reading carries the source timestamp');
      const stamped = await waitFor(() => sink.latest(d.id, 'stamped'), 'the stamped node');
      assert.equal(stamped.time, Date.UTC(2020, 0, 1), 'the reading time is the source timestamp, not the arrival time');
      assert.equal(sink.latest(d.id, 'numeric')?.value, 42);
      assert.equal(sink.latest(d.id, 'byUri')?.value, 21.25);
      assert.equal(sink.latest(d.id, 'text')?.value, 'hello');
      assert.equal(sink.latest(d.id, 'kubeedgeBrowseName')?.value, true);
      const missing = await waitFor(() => sink.latest(d.id, 'missing'), 'the missing node to be reported');
      assert.equal(missing.quality, 'bad');
      assert.equal(missing.error?.code, 'BAD_NODE_ID_UNKNOWN');
      assert.equal(host.state(d.id), 'online', 'one bad node does not make the device unhealthy');
    });
  });

  test('polling sends one batched ReadRequest per cycle for all polled nodes of a device', async () => {
    await withHost(async (host, sink) => {
      const names = ['Double', 'Float', 'Int32', 'String', 'Boolean', 'UInt16'];
      const d = makeDevice({ name: 'poll', protocol: 'opcua', config: { url: server.url, mode: 'poll' }, properties: [
        { name: 'counter', type: 'int', visitor: { nodeID: 'ns=1;s=Test.Counter' }, collectCycle: 200, reportCycle: 1 },
        ...names.map((n) => ({ name: n, type: 'string' as PropertyType, visitor: { nodeID: `ns=1;s=Test.${n}` }, collectCycle: 200, reportCycle: 1 })),
        { name: 'stamped', type: 'double', visitor: { nodeID: 'ns=1;s=Test.Stamped' }, collectCycle: 200, reportCycle: 1 },
        { name: 'int16', type: 'int', accessMode: 'ReadWrite', visitor: { nodeID: 'ns=1;s=Test.Int16' }, collectCycle: 200, reportCycle: 1 },
      ] });
      await host.apply([d]);
      await waitFor(() => good(sink, 'counter').length >= 1, 'a first poll');
      const start = (await server.command('stats')).reads;
      const polled = good(sink, 'counter').length;
      await waitFor(() => good(sink, 'counter').length >= polled + 8, 'eight more polls');
      const reads = (await server.command('stats')).reads - start;
      const polls = good(sink, 'counter').length - polled;
      assert.ok(reads <= polls + 2, `${polls} polls of ${names.length + 3} nodes took ${reads} ReadRequests; one per cycle expected`);
      assert.ok(good(sink, 'counter').at(-1)!.time > good(sink, 'counter')[0]!.time, 'source time moves on');
      for (const n of names) assert.ok(good(sink, n).length > 0, `${n} was read`);
      assert.equal(good(sink, 'stamped').at(-1)?.time, Date.UTC(2020, 0, 1), 'polled readings carry the source timestamp too');
      const outcome = await host.write(d.id, 'int16', -7);
      assert.equal(outcome.ok, true, outcome.error?.message);
      assert.equal(outcome.readBack, -7, 'a polled device writes and reads back');
    });
  });

  test('one device mixes subscribed and polled properties (visitor mode)', async () => {
    await withHost(async (host, sink) => {
      const d = makeDevice({ name: 'mixed', protocol: 'opcua', config: { url: server.url }, properties: [
        { name: 'counter', type: 'int', visitor: { nodeID: 'ns=1;s=Test.Counter' }, collectCycle: 100 },
        { name: 'slow', type: 'int', visitor: { nodeID: 'ns=1;s=Test.Counter', mode: 'poll' }, collectCycle: 300, reportCycle: 1 },
      ] });
      await host.apply([d]);
      await waitFor(() => good(sink, 'slow').length >= 1, 'a first poll');
      const start = (await server.command('stats')).reads;
      const polled = good(sink, 'slow').length;
      await waitFor(() => good(sink, 'slow').length >= polled + 3 && good(sink, 'counter').length >= 10 || undefined, 'polls and pushed changes');
      const reads = (await server.command('stats')).reads - start;
      assert.ok(reads >= 3, `the polled property is read (${reads} ReadRequests)`);
      assert.ok(reads <= good(sink, 'slow').length - polled + 2, 'the subscribed property is not polled');
    });
  });

  test('writes each scalar type with the node DataType and reads it back', async () => {
    const cases: { name: string; type: PropertyType; write: PropertyValue }[] = [
      { name: 'Boolean', type: 'boolean', write: false },
      { name: 'SByte', type: 'int', write: -100 },
      { name: 'Byte', type: 'int', write: 17 },
      { name: 'Int16', type: 'int', write: -32000 },
      { name: 'UInt16', type: 'int', write: 65000 },
      { name: 'Int32', type: 'int', write: -2000000000 },
      { name: 'UInt32', type: 'int', write: 4000000000 },
      { name: 'Int64', type: 'int', write: -9007199254740993n },
      { name: 'UInt64', type: 'int', write: 18446744073709551615n },
      { name: 'Float', type: 'float', write: 2.5 },
      { name: 'Double', type: 'double', write: 1234.5678 },
      { name: 'String', type: 'string', write: 'written by edgetwin' },
      { name: 'ByteString', type: 'bytes', write: Uint8Array.from([9, 8, 7]) },
    ];
    await withHost(async (host, sink) => {
      const d = makeDevice({ name: 'writes', protocol: 'opcua', config: { url: server.url }, properties: [
        ...cases.map((c) => ({ name: c.name, type: c.type, accessMode: 'ReadWrite' as const, visitor: { nodeID: `ns=1;s=Test.${c.name}` } })),
        { name: 'counter', type: 'int', accessMode: 'ReadWrite', visitor: { nodeID: 'ns=1;s=Test.Counter' } },
      ] });
      await host.apply([d]);
      await waitFor(() => host.state(d.id) === 'online', 'the device to go online');
      for (const c of cases) {
        const outcome = await host.write(d.id, c.name, c.write);
        assert.equal(outcome.ok, true, `${c.name}: ${outcome.error?.message}`);
        assert.ok(sameValue(outcome.readBack, c.write), `${c.name}: wrote ${String(c.write)}, read back ${String(outcome.readBack)}`);
        await waitFor(() => sameValue(sink.latest(d.id, c.name)?.value, c.write) || undefined, `the subscription to report ${c.name}`);
      }
      const range = await host.write(d.id, 'Byte', 300);
      assert.equal(range.ok, false);
      assert.equal(range.error?.code, 'ERANGE');
      assert.match(range.error!.message, /out of range for Byte/);
      const refused = await host.write(d.id, 'counter', 5);
      assert.equal(refused.ok, false, 'a node without CurrentWrite refuses the write');
      assert.equal(refused.error?.code, 'BAD_NOT_WRITABLE');
      assert.match(refused.error!.message, /BadNotWritable/, 'the OPC UA status name is in the reason');
    });
  });

  test('devices reaching one server the same way share one session, each with its own subscription', async () => {
    await withHost(async (host, sink) => {
      const devices = ['press-1', 'press-2', 'press-3'].map((name, i) => makeDevice({ name, protocol: 'opcua', config: { url: server.url, mode: i === 2 ? 'poll' : 'subscribe' }, properties: [
        { name: 'counter', type: 'int', visitor: { nodeID: 'ns=1;s=Test.Counter' }, collectCycle: 100 },
      ] }));
      await host.apply(devices);
      for (const d of devices) await waitFor(() => sink.readings.filter((r) => r.device === d.id && r.quality === 'good').length >= 3 || undefined, `readings of ${d.id}`);
      assert.equal((await server.command('stats')).sessions, 1);
      await host.apply(devices.slice(1));
      const mark = sink.readings.length;
      await waitFor(() => sink.readings.slice(mark).filter((r) => r.device === devices[1]!.id && r.quality === 'good').length >= 3 || undefined, 'the others to keep reading after one device stops');
    });
    assert.equal((await server.command('stats')).sessions, 0, 'the last device closed the session');
  });

  test('a node that goes Bad reports quality bad, and resumes when it is Good again', async () => {
    await withHost(async (host, sink) => {
      const d = makeDevice({ name: 'flaky', protocol: 'opcua', config: { url: server.url }, properties: [
        { name: 'flaky', type: 'double', visitor: { nodeID: 'ns=1;s=Test.Flaky' }, collectCycle: 100 },
      ] });
      await host.apply([d]);
      await waitFor(() => good(sink, 'flaky').length >= 2, 'good readings');
      await server.command('bad Flaky');
      const bad = await waitFor(() => sink.readings.find((r) => r.property === 'flaky' && r.quality === 'bad'), 'a bad reading');
      assert.equal(bad.error?.code, 'BAD_DEVICE_FAILURE');
      assert.equal(bad.value, undefined);
      const mark = sink.readings.length;
      await server.command('good Flaky');
      await waitFor(() => sink.readings.slice(mark).filter((r) => r.property === 'flaky' && r.quality === 'good').length >= 3, 'good readings to resume');
    });
  });
});
