// Bad combinations are refused at load, naming the device, the property and the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../core/log.ts';
import type { ConfigData } from '../../core/model/types.ts';
import { MapperHost } from '../sdk/index.ts';
import { makeDevice, RecordingSink } from '../sdk/testing.ts';
import { modbusLoader } from './index.ts';

const TCP = { ip: '127.0.0.1', port: '502', slaveID: 1, communicateMode: 'TCP' };

async function check(visitor: ConfigData, opts: { config?: ConfigData; desired?: boolean } = {}) {
  const host = new MapperHost({ sink: new RecordingSink(), drivers: [modbusLoader], log: silentLogger, dataDir: '.' });
  const device = makeDevice({ name: 'plc', protocol: 'modbus', config: opts.config ?? TCP, properties: [{ name: 'speed', type: 'int', accessMode: 'ReadWrite', visitor }] });
  if (opts.desired) device.properties[0]!.desired = 5;
  try {
    return await host.check([device]);
  } finally {
    await host.close();
  }
}

async function rejects(visitor: ConfigData, field: string, opts: { config?: ConfigData; desired?: boolean; property?: boolean } = {}) {
  const { accepted, errors } = await check(visitor, opts);
  assert.equal(accepted.length, 0, `${JSON.stringify(visitor)} must be refused`);
  const text = errors.map((e) => e.format()).join('\n');
  assert.match(text, /default\/plc/, 'names the device');
  if (opts.property !== false) assert.ok(errors.some((e) => e.where.property === 'speed'), `names the property: ${text}`);
  assert.ok(errors.some((e) => e.where.path?.endsWith(field)), `names the field ${field}: ${text}`);
  return text;
}

test('KubeEdge visitors load as written (port as a string or a number)', async () => {
  for (const v of [
    { register: 'HoldingRegister', offset: 0, limit: 1, dataType: 'float', scale: 0.1 },
    { register: 'HoldingRegister', offset: 2, limit: 2, dataType: 'float', isSwap: true, isRegisterSwap: true },
    { register: 'InputRegister', offset: 0, limit: 4, dataType: 'int' },
    { register: 'CoilRegister', offset: 0, limit: 1, dataType: 'boolean' },
    { register: 'HoldingRegister', offset: 10, limit: 8, dataType: 'string' },
  ]) {
    const { errors } = await check(v, { config: { ...TCP, port: 502 } });
    assert.deepEqual(errors.map((e) => e.format()), [], JSON.stringify(v));
  }
});

test('a limit that does not fit an explicit wire type', async () => {
  const text = await rejects({ register: 'HoldingRegister', offset: 0, dataType: 'float32', limit: 1 }, 'limit');
  assert.match(text, /limit 1 does not fit dataType float32, which takes 2 registers/);
});

test('a KubeEdge dataType with a limit outside the table', async () => {
  await rejects({ register: 'HoldingRegister', offset: 0, dataType: 'int', limit: 3 }, 'limit');
});

test('a bitIndex on a coil', async () => {
  await rejects({ register: 'CoilRegister', offset: 0, dataType: 'bit', bitIndex: 2 }, 'bitIndex');
});

test('bit without a bitIndex, and a bitIndex past the register', async () => {
  await rejects({ register: 'HoldingRegister', offset: 0, dataType: 'bit' }, 'bitIndex');
  await rejects({ register: 'HoldingRegister', offset: 0, dataType: 'bit', bitIndex: 16 }, 'bitIndex');
});

test('order together with isSwap or isRegisterSwap', async () => {
  const text = await rejects({ register: 'HoldingRegister', offset: 0, dataType: 'int32', order: 'CDAB', isRegisterSwap: true }, 'order');
  assert.match(text, /order cannot be combined with isSwap\/isRegisterSwap/);
});

test('a desired value for an input register or a discrete input', async () => {
  await rejects({ register: 'InputRegister', offset: 0 }, 'register', { desired: true });
  await rejects({ register: 'DiscreteInputRegister', offset: 0 }, 'register', { desired: true });
});

test('unknown tables, types and fields are schema errors naming the field', async () => {
  await rejects({ register: 'Holding', offset: 0 }, 'register');
  await rejects({ register: 'HoldingRegister', offset: 0, dataType: 'real' }, 'dataType');
  await rejects({ register: 'HoldingRegister', offset: 70000 }, 'offset');
  await rejects({ register: 'HoldingRegister', offset: 0, swap: true }, 'swap');
});

test('a string longer than maxRegistersPerRequest', async () => {
  await rejects({ register: 'HoldingRegister', offset: 0, dataType: 'string', limit: 20 }, 'limit', { config: { ...TCP, maxRegistersPerRequest: 16 } });
});

test('protocol rules: RTU needs serialName and one request in flight; TCP needs ip', async () => {
  const visitor = { register: 'HoldingRegister', offset: 0 };
  await rejects(visitor, 'serialName', { config: { communicateMode: 'RTU', slaveID: 1 }, property: false });
  await rejects(visitor, 'maxInFlight', { config: { communicateMode: 'RTU', serialName: '/dev/ttyUSB0', maxInFlight: 4 }, property: false });
  await rejects(visitor, 'ip', { config: { communicateMode: 'TCP', port: 502 }, property: false });
  await rejects(visitor, 'slaveID', { config: { ...TCP, slaveID: 300 }, property: false });
});
