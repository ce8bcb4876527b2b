// Modbus RTU against pymodbus (Debian) as a slave on a socat pty pair: every type and order, and
// two devices on one bus with no crosstalk.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../core/log.ts';
import { LinkRegistry, MapperHost } from '../sdk/index.ts';
import { makeDevice, RecordingSink, waitFor } from '../sdk/testing.ts';
import { modbusLoader } from './index.ts';
import { RtuTransport } from './rtu.ts';
import { fixtureImage } from './testing/fixture.ts';
import { socatPair, startPymodbus, type PymodbusServer } from './testing/peers.ts';
import { assertWireAfterWrites, readAndWriteEverything } from './testing/roundtrip.ts';

const BAUD = 115200;
let pty: Awaited<ReturnType<typeof socatPair>>;
let server: PymodbusServer;

before(async () => {
  pty = await socatPair();
  const image = { ...fixtureImage(1), 2: { hr: { 0: 2222, 1: 2223 }, ir: {}, co: {}, di: {} }, 3: { hr: { 0: 3333, 1: 3334 }, ir: {}, co: {}, di: {} } };
  server = await startPymodbus({ rtu: pty.b, baud: BAUD }, image);
});
after(async () => {
  await server?.stop();
  await pty?.stop();
});

const rtu = (unit: number) => ({ communicateMode: 'RTU', serialName: pty.a, baudRate: BAUD, parity: 'N', dataBits: 8, stopBits: 1, slaveID: unit });

test('RTU: reads every data type in every order and writes them back in the same order', async () => {
  const written = await readAndWriteEverything(rtu(1), 'rtu');
  const links = new LinkRegistry();
  try {
    const link = await links.acquireSerial({ path: pty.a, baudRate: BAUD }, 'modbus');
    const t = new RtuTransport(link, async () => undefined);
    await assertWireAfterWrites(t, 1, written);
    await t.close();
  } finally {
    await links.closeAll();
  }
});

test('RTU: two devices on one bus share the port and never see each other\'s values', async () => {
  const sink = new RecordingSink();
  const links = new LinkRegistry();
  const host = new MapperHost({ sink, drivers: [modbusLoader], log: silentLogger, dataDir: '.', links });
  try {
    const device = (unit: number) => makeDevice({ name: `unit-${unit}`, protocol: 'modbus', config: rtu(unit),
      properties: [0, 1].map((a) => ({ name: `r${a}`, type: 'int', collectCycle: 20, reportCycle: 20, visitor: { register: 'HoldingRegister', offset: a } })) });
    const [d2, d3] = [device(2), device(3)];
    const { errors } = await host.apply([d2, d3]);
    assert.deepEqual(errors.map((e) => e.format()), []);
    await waitFor(() => sink.readings.filter((r) => r.quality === 'good').length >= 200, '200 good readings across both devices', 30_000);
    assert.equal(links.users(`serial:${pty.a}`), 1, 'one serial port, opened once for the bus');
    const bad = sink.readings.filter((r) => r.quality !== 'good');
    assert.deepEqual(bad.map((r) => `${r.device} ${r.property} ${r.error?.code}`), [], 'no failed reads');
    for (const r of sink.readings) {
      const expected = (r.device === d2.id ? 2222 : 3333) + (r.property === 'r1' ? 1 : 0);
      assert.equal(r.value, expected, `${r.device} ${r.property}`);
    }
    const per = (id: string) => sink.readings.filter((r) => r.device === id).length;
    assert.ok(per(d2.id) > 50 && per(d3.id) > 50, `both devices are served (${per(d2.id)} and ${per(d3.id)})`);
  } finally {
    await host.close();
  }
});
