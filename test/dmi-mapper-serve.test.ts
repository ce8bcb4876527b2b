// KubeEdge DMI, mapper side: `edgetwin mapper serve` runs the virtual driver as a DMI mapper
// against an edgecore played by Python's grpcio (stubs compiled from the same .proto by
// grpc_tools in the test). It registers (retrying until edgecore is there), gets its device with
// configData packed in google.protobuf wrappers by Python, reports twins and states, applies a
// desired value from UpdateDevice, and refuses a device whose configData its driver rejects; the
// modbus driver does the same against a real Modbus TCP server.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { compileProtoForPython, pythonGrpcMissing, startDmiPeer, type DmiPeer } from './helpers/dmi-peer.ts';
import { BIN, ROOT } from './helpers/gateway-process.ts';
import { waitFor } from '../core/testing.ts';
import { startModbusSerialServer } from '../mappers/modbus/testing/peers.ts';

const missing = pythonGrpcMissing();

const MODEL = {
  name: 'line-model',
  properties: [
    { name: 'packages', type: 'INT', accessMode: 'ReadOnly' },
    { name: 'speed', type: 'INT', accessMode: 'ReadWrite' },
    { name: 'ratio', type: 'DOUBLE', accessMode: 'ReadOnly' },
  ],
};

const device = (name: string, speedDesired?: string, packagesFunction = 'constant') => ({
  name,
  model: 'line-model',
  protocol: 'virtual',
  protocolConfig: { seed: 7 },
  properties: [
    { name: 'packages', collectCycle: 100, visitor: { function: packagesFunction, value: 5 } },
    { name: 'speed', collectCycle: 100, visitor: { function: 'constant', value: 0 }, ...(speedDesired ? { desired: speedDesired } : {}) },
    { name: 'ratio', collectCycle: 100, visitor: { function: 'constant', value: 0.25 } },
  ],
});

let dir: string;
let pyDir: string;
let mapper: ChildProcess | undefined;
let mapperLog = '';
let edgecore: DmiPeer | undefined;
const cleanups: (() => Promise<unknown>)[] = [];

before(() => {
  if (missing) return;
  dir = mkdtempSync(join(tmpdir(), 'edgetwin-dmi-b-'));
  pyDir = compileProtoForPython();
});

after(async () => {
  if (mapper && mapper.exitCode === null) {
    const exited = new Promise((r) => mapper!.once('exit', r));
    mapper.kill('SIGTERM');
    await exited;
  }
  await edgecore?.stop();
  for (const c of cleanups.reverse()) await c();
});

/** `edgetwin mapper serve` as a child process; stopped after the tests. */
function serveMapper(args: string[]): { child: ChildProcess; log(): string } {
  const child = spawn(process.execPath, [BIN, 'mapper', 'serve', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise((r) => child.once('exit', r));
  cleanups.push(async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  });
  return { child, log: () => out };
}

type Status = { event: string; device: string; twins: Record<string, { value: string; metadata: Record<string, string> }> };

test('edgetwin mapper serve registers with a Python edgecore, runs the device it is given and reports twins and states', { skip: missing }, async () => {
  const coreSocket = join(dir, 'dmi.sock');
  // The mapper starts first: edgecore is not there yet, so it retries its registration.
  mapper = spawn(process.execPath, [BIN, 'mapper', 'serve', '--protocol', 'virtual', '--dmi-socket', coreSocket, '--retry-ms', '100', '--data-dir', join(dir, 'data')], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
  });
  mapper.stdout!.on('data', (d) => (mapperLog += d));
  mapper.stderr!.on('data', (d) => (mapperLog += d));
  await waitFor('the mapper to try edgecore and retry', () => {
    if (mapper!.exitCode !== null) throw new Error(`mapper exited ${mapper!.exitCode}:\n${mapperLog}`);
    return mapperLog.includes('cannot register with the device manager; retrying');
  });
  edgecore = startDmiPeer(pyDir, 'edgecore', { socket: coreSocket, models: [MODEL], devices: [device('line')] });
  const reg = await edgecore.next('MapperRegister');
  assert.equal(reg.protocol, 'virtual');
  // Its own socket beside edgecore's, named after the protocol, as KubeEdge's mapper template does.
  assert.equal(reg.address, join(dir, 'virtual.sock'));
  assert.equal(reg.withData, true);
  assert.ok(existsSync(join(dir, 'virtual.sock')));

  const state = await edgecore.next('state', (e) => e.device === 'line' && e.state === 'online');
  assert.equal(state.namespace, 'default');
  const status = (await edgecore.next('status', (e) => {
    const t = (e as unknown as Status).twins;
    return e.device === 'line' && t.packages?.value === '5' && t.ratio !== undefined;
  })) as unknown as Status;
  assert.equal(status.twins.ratio!.value, '0.25');
  assert.equal(status.twins.packages!.metadata.type, 'INT');
  assert.ok(Number(status.twins.packages!.metadata.timestamp) > 0);
});

test('a desired value in UpdateDevice is written through the driver and reported back', { skip: missing }, async () => {
  const from = edgecore!.events.length;
  edgecore!.send({ call: 'UpdateDevice', device: device('line', '77') });
  await edgecore!.next('called', (e) => e.call === 'UpdateDevice', from);
  await edgecore!.next('status', (e) => e.device === 'line' && (e as unknown as Status).twins.speed?.value === '77', from);
});

test('a device whose configData the driver rejects is refused with the field named', { skip: missing }, async () => {
  const from = edgecore!.events.length;
  edgecore!.send({ call: 'RegisterDevice', device: device('broken', undefined, 'nonsense') });
  const refused = await edgecore!.next('call_error', (e) => e.call === 'RegisterDevice', from);
  assert.equal(refused.code, 'INVALID_ARGUMENT');
  assert.match(String(refused.details), /device default\/broken: .*spec\.properties\[0\]\.visitors\.configData\.function: .*is not one of/);
  // The good device keeps running.
  await edgecore!.next('status', (e) => e.device === 'line', edgecore!.events.length);
});

test('RemoveDevice stops the device: no report for it follows', { skip: missing }, async () => {
  edgecore!.send({ call: 'RemoveDevice', name: 'line' });
  await edgecore!.next('called', (e) => e.call === 'RemoveDevice');
  await waitFor('the mapper log to say the device stopped', () => /"stopped":\["default\/line"\]/.test(mapperLog));
  const after = edgecore!.events.length;
  // Its collectCycle is 100 ms: a running device would report within a few cycles. A later
  // register of a second device shows the mapper still works and bounds the wait without a timer.
  edgecore!.send({ call: 'RegisterDevice', device: device('line2') });
  await edgecore!.next('status', (e) => e.device === 'line2', after);
  await edgecore!.next('status', (e) => e.device === 'line2' && (e as unknown as Status).twins.packages !== undefined, after);
  const late = edgecore!.events.slice(after).filter((e) => e.event === 'status' && e.device === 'line');
  assert.equal(late.length, 0, 'no report for the removed device');
});

test('the modbus driver as a DMI mapper: configData from Python reaches a real Modbus server, and a desired value is written to it', { skip: missing }, async () => {
  const image = { 1: { hr: { 0: 1234, 1: 0 } } };
  const plc = await startModbusSerialServer(image);
  cleanups.push(() => plc.stop());
  const coreSocket = join(dir, 'modbus-core', 'dmi.sock');
  mkdirSync(dirname(coreSocket), { recursive: true });
  const core = startDmiPeer(pyDir, 'edgecore', {
    socket: coreSocket,
    models: [{ name: 'tank-model', properties: [{ name: 'level', type: 'INT', accessMode: 'ReadOnly' }, { name: 'valve', type: 'INT', accessMode: 'ReadWrite' }] }],
    devices: [{
      name: 'tank', model: 'tank-model', protocol: 'modbus',
      // As edgecore packs them: a string port, an int slave id, each in its google.protobuf wrapper.
      protocolConfig: { ip: '127.0.0.1', port: String(plc.port), slaveID: 1, communicateMode: 'TCP', timeout: 500 },
      properties: [
        { name: 'level', collectCycle: 100, visitor: { register: 'HoldingRegister', offset: 0, limit: 1, dataType: 'int' } },
        { name: 'valve', collectCycle: 100, visitor: { register: 'HoldingRegister', offset: 1, limit: 1, dataType: 'int' } },
      ],
    }],
  });
  cleanups.push(() => core.stop());
  await core.next('listening');
  const m = serveMapper(['--protocol', 'modbus', '--dmi-socket', coreSocket, '--retry-ms', '100', '--data-dir', join(dir, 'modbus-data')]);
  const reg = await core.next('MapperRegister');
  assert.equal(reg.protocol, 'modbus');
  await core.next('status', (e) => e.device === 'tank' && (e as unknown as Status).twins.level?.value === '1234').catch((err: Error) => {
    throw new Error(`${err.message}\nmapper log:\n${m.log()}`);
  });
  const from = core.events.length;
  core.send({
    call: 'UpdateDevice',
    device: {
      name: 'tank', model: 'tank-model', protocol: 'modbus',
      protocolConfig: { ip: '127.0.0.1', port: String(plc.port), slaveID: 1, communicateMode: 'TCP', timeout: 500 },
      properties: [
        { name: 'level', collectCycle: 100, visitor: { register: 'HoldingRegister', offset: 0, limit: 1, dataType: 'int' } },
        { name: 'valve', collectCycle: 100, visitor: { register: 'HoldingRegister', offset: 1, limit: 1, dataType: 'int' }, desired: '42' },
      ],
    },
  });
  await core.next('called', (e) => e.call === 'UpdateDevice', from);
  await waitFor('the desired value in the Modbus register', () => image[1].hr[1] === 42);
  await core.next('status', (e) => e.device === 'tank' && (e as unknown as Status).twins.valve?.value === '42', from);
});
