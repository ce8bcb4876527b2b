// Every data type in every order, read from and written to known register contents, against two
// independent servers: modbus-serial's ServerTCP (Node) and pymodbus from Debian (Python).

import { after, before, describe, test } from 'node:test';
import { TcpTransport } from './tcp.ts';
import { fixtureImage } from './testing/fixture.ts';
import { freePort, startModbusSerialServer, startPymodbus } from './testing/peers.ts';
import { assertWireAfterWrites, readAndWriteEverything } from './testing/roundtrip.ts';

async function roundTrip(port: number, label: string): Promise<void> {
  const written = await readAndWriteEverything({ ip: '127.0.0.1', port: String(port), slaveID: 1, communicateMode: 'TCP' }, label);
  const t = await TcpTransport.open('127.0.0.1', port, 5000);
  try {
    await assertWireAfterWrites(t, 1, written);
  } finally {
    await t.close();
  }
}

describe('modbus driver against modbus-serial ServerTCP', () => {
  let server: Awaited<ReturnType<typeof startModbusSerialServer>>;
  before(async () => { server = await startModbusSerialServer(fixtureImage()); });
  after(async () => { await server.stop(); });
  test('reads every data type in every order and writes them back in the same order', () => roundTrip(server.port, 'modbus-serial'));
});

describe('modbus driver against pymodbus (TCP)', () => {
  let server: Awaited<ReturnType<typeof startPymodbus>>;
  let port = 0;
  before(async () => { port = await freePort(); server = await startPymodbus({ tcp: port }, fixtureImage()); });
  after(async () => { await server.stop(); });
  test('reads every data type in every order and writes them back in the same order', () => roundTrip(port, 'pymodbus'));
});
