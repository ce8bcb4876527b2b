// Every data type in every order, read from and written to known register contents, against two
// independent servers: modbus-serial's ServerTCP (Node) and pymodbus from Debian (Python).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../core/log.ts';
import { sameValue } from '../../core/values.ts';
import { MapperHost, RecordingSink, waitFor } from '../sdk/index.ts';
import { modbusLoader } from './index.ts';
import { parseResponse, readRequest } from './pdu.ts';
import { TcpTransport } from './tcp.ts';
import { fixtureCases, fixtureDevice, fixtureImage, type FixtureCase } from './testing/fixture.ts';
import { freePort, startModbusSerialServer, startPymodbus } from './testing/peers.ts';

const FC = { hr: 3, ir: 4, co: 1, di: 2 } as const;

/** What the server holds now, read with a bare request (not through the driver under test). */
async function wireWords(port: number, c: FixtureCase): Promise<number[]> {
  const t = await TcpTransport.open('127.0.0.1', port, 5000);
  try {
    const req = readRequest(FC[c.table], Number(c.visitor.offset), c.words.length);
    const data = parseResponse(req, await t.request(1, req, AbortSignal.timeout(5000)));
    if (c.table === 'co' || c.table === 'di') return c.words.map((_, i) => (data[i >> 3]! >> (i & 7)) & 1);
    return c.words.map((_, i) => (data[2 * i]! << 8) | data[2 * i + 1]!);
  } finally {
    await t.close();
  }
}

async function readAndWriteEverything(port: number, label: string): Promise<void> {
  const cases = fixtureCases();
  const sink = new RecordingSink();
  const host = new MapperHost({ sink, drivers: [modbusLoader], log: silentLogger, dataDir: '.' });
  try {
    const device = fixtureDevice(`fixture-${label}`, { ip: '127.0.0.1', port: String(port), slaveID: 1, communicateMode: 'TCP' }, cases);
    const { errors } = await host.apply([device]);
    assert.deepEqual(errors.map((e) => e.format()), []);
    for (const c of cases) {
      const r = await waitFor(() => sink.readings.find((x) => x.property === c.name && x.quality !== undefined), `a reading of ${c.name}`);
      assert.equal(r.quality, 'good', `${c.name}: ${r.error?.code} ${r.error?.message}`);
      assert.ok(sameValue(r.value, c.expect), `${c.name}: expected ${String(c.expect)}, read ${String(r.value)}`);
    }
    for (const c of cases.filter((x) => x.write)) {
      const outcome = await host.write(device.id, c.name, c.write!.value);
      assert.equal(outcome.ok, true, `writing ${c.name}: ${outcome.error?.code} ${outcome.error?.message}`);
      assert.ok(sameValue(outcome.readBack, c.write!.value), `${c.name}: wrote ${String(c.write!.value)}, read back ${String(outcome.readBack)}`);
      assert.deepEqual(await wireWords(port, c), c.write!.words, `${c.name}: the registers after the write`);
    }
  } finally {
    await host.close();
  }
}

describe('modbus driver against modbus-serial ServerTCP', () => {
  let server: Awaited<ReturnType<typeof startModbusSerialServer>>;
  before(async () => { server = await startModbusSerialServer(fixtureImage()); });
  after(async () => { await server.stop(); });
  test('reads every data type in every order and writes them back in the same order', () => readAndWriteEverything(server.port, 'modbus-serial'));
});

describe('modbus driver against pymodbus (TCP)', () => {
  let server: Awaited<ReturnType<typeof startPymodbus>>;
  let port = 0;
  before(async () => { port = await freePort(); server = await startPymodbus({ tcp: port }, fixtureImage()); });
  after(async () => { await server.stop(); });
  test('reads every data type in every order and writes them back in the same order', () => readAndWriteEverything(port, 'pymodbus'));
});
