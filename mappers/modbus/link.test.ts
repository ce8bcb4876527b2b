// Links: one TCP connection per ip:port shared by every unit id behind it, answers matched by
// transaction id, and maxInFlight requests on the wire for devices that accept it.

import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../core/log.ts';
import { MapperHost } from '../sdk/index.ts';
import { makeDevice, RecordingSink, waitFor } from '../sdk/testing.ts';
import { modbusLoader } from './index.ts';
import { ScriptedServer } from './testing/scripted-server.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => { for (const fn of cleanup.splice(0).reverse()) await fn(); });

async function setup(script: ConstructorParameters<typeof ScriptedServer>[0]) {
  const server = new ScriptedServer(script);
  await server.listen();
  const sink = new RecordingSink();
  const host = new MapperHost({ sink, drivers: [modbusLoader], log: silentLogger, dataDir: '.' });
  cleanup.push(() => server.close(), () => host.close());
  return { server, sink, host };
}

const registers = (n: number) => Array.from({ length: n }, (_, a) => ({ name: `r${a}`, type: 'int' as const, collectCycle: 50, visitor: { register: 'HoldingRegister', offset: a } }));

test('devices behind one ip:port share one connection and each reads its own unit', async () => {
  const { server, sink, host } = await setup((unit, a) => ({ value: unit * 100 + a }));
  const devices = [1, 2, 3].map((unit) => makeDevice({ name: `unit-${unit}`, protocol: 'modbus', config: { ip: '127.0.0.1', port: server.port, slaveID: unit }, properties: registers(2) }));
  await host.apply(devices);
  for (const [i, d] of devices.entries()) {
    for (const a of [0, 1]) await waitFor(() => sink.readings.find((r) => r.device === d.id && r.property === `r${a}` && r.quality === 'good'), `${d.id} r${a}`);
    const values = sink.readings.filter((r) => r.device === d.id).map((r) => Number(r.value) - (i + 1) * 100);
    assert.ok(values.every((v) => v === 0 || v === 1), `${d.id} reads only its own unit: ${values.join(',')}`);
  }
  assert.equal(server.connections, 1, 'one TCP connection for three unit ids');
  await host.apply([devices[0]!]);
  await host.apply([]);
  const reconnected = server.connections;
  await host.apply(devices);
  await waitFor(() => sink.readings.filter((r) => r.quality === 'good').length >= 12, 'reads after re-adding');
  assert.equal(server.connections, reconnected + 1, 'the connection closed with its last device and one new one serves them all');
});

test('maxInFlight keeps that many requests on the wire and matches answers that overtake each other', async () => {
  const { server, sink, host } = await setup((_u, a) => ({ value: 1000 + a }));
  server.delay = (a) => 40 - a * 4;
  const d = makeDevice({ name: 'pipelined', protocol: 'modbus', config: { ip: '127.0.0.1', port: server.port, coalesce: false, maxInFlight: 4 }, properties: registers(8) });
  await host.apply([d]);
  await waitFor(() => server.log.length >= 64, 'eight cycles of requests');
  assert.equal(server.maxOutstanding, 4, 'four requests in flight at most, and at times four');
  for (let a = 0; a < 8; a++) {
    const values = sink.readings.filter((r) => r.property === `r${a}`).map((r) => r.value);
    assert.deepEqual([...new Set(values)], [1000 + a], `r${a} always gets its own answer`);
  }
});

test('without maxInFlight one request at a time is on the wire', async () => {
  const { server, host } = await setup((_u, a) => ({ value: a }));
  server.delay = () => 5;
  await host.apply([makeDevice({ name: 'polite', protocol: 'modbus', config: { ip: '127.0.0.1', port: server.port, coalesce: false }, properties: registers(8) })]);
  await waitFor(() => server.log.length >= 32, 'four cycles of requests');
  assert.equal(server.maxOutstanding, 1);
});
