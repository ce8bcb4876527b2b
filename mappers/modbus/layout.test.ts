// The block layout the Modbus driver gives with each answer (RawBlock.layout): the runtime decodes
// registers in place through it, so it must name exactly the bytes readings() cuts, for every
// data type and order of the fixture, and must be absent for bits, which are no run of bytes.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../core/log.ts';
import { LinkRegistry, type DriverContext, type LinkLease, type RawBlock } from '../sdk/index.ts';
import { DevicePreparer } from '../sdk/prepare.ts';
import { TABLES } from './config.ts';
import { modbusDriver } from './driver.ts';
import type { Span } from './plan.ts';
import { fixtureCases, fixtureDevice, fixtureImage } from './testing/fixture.ts';
import { startModbusSerialServer } from './testing/peers.ts';

let server: Awaited<ReturnType<typeof startModbusSerialServer>>;
before(async () => { server = await startModbusSerialServer(fixtureImage()); });
after(async () => { await server.stop(); });

test('each register answer carries a layout naming the bytes readings() cuts; bit answers carry none', async () => {
  const device = fixtureDevice('layout', { ip: '127.0.0.1', port: String(server.port), slaveID: 1, communicateMode: 'TCP' }, fixtureCases());
  const { prepared, errors } = new DevicePreparer().prepare(device, modbusDriver);
  assert.deepEqual(errors, []);
  const leases: LinkLease<{ close(): Promise<void> | void }>[] = [];
  const ctx: DriverContext = {
    log: silentLogger,
    signal: new AbortController().signal,
    links: new LinkRegistry(),
    dataDir: '.',
    share: async (_key, open) => {
      const link = await open(() => undefined);
      const lease = { link, fail: () => undefined, release: async () => { await link.close(); } };
      leases.push(lease);
      return lease;
    },
    lost: () => undefined,
    count: () => undefined,
  };
  const conn = await modbusDriver.connect(prepared!.binding as never, ctx);
  let registerAnswers = 0;
  let bitAnswers = 0;
  try {
    for (const req of prepared!.plan) {
      const result = await conn.read(req as never, AbortSignal.timeout(5000));
      assert.ok(!Array.isArray(result), 'the fixture answers every request as planned, in one block');
      const { block, layout, readings } = result as RawBlock;
      const raws = readings();
      if (TABLES[(req.detail as Span).table].bits) {
        assert.equal(layout, undefined, 'coils and discrete inputs are cut by readings()');
        bitAnswers++;
        continue;
      }
      assert.ok(layout, 'a register answer has a layout');
      assert.equal(layout.offsets.length, req.properties.length);
      req.properties.forEach((p, i) => {
        assert.equal(raws[i]!.property, p.name);
        const placed = block.subarray(layout.offsets[i]!, layout.offsets[i]! + layout.lengths[i]!);
        assert.deepEqual([...placed], [...raws[i]!.raw!], p.name);
      });
      assert.equal((result as RawBlock).layout, layout, 'built once per request, not per answer');
      const again = (await conn.read(req as never, AbortSignal.timeout(5000))) as RawBlock;
      assert.equal(again.layout, layout, 'the next answer to the request carries the same layout');
      registerAnswers++;
    }
  } finally {
    await conn.close();
    for (const lease of leases) await lease.release();
  }
  assert.ok(registerAnswers > 0 && bitAnswers > 0, `register and bit answers were both checked (${registerAnswers}, ${bitAnswers})`);
});
