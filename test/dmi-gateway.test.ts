// KubeEdge DMI, gateway side: a mapper written with Python's grpcio (compiled from the same
// .proto by grpc_tools, no edgetwin code) registers with `edgetwin run`'s DeviceManagerService,
// receives its device, reports twin values that show in the twin API, takes a desired value,
// and is dialled again after a gateway restart without registering again.

import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { waitFor } from '../core/testing.ts';
import { compileProtoForPython, pythonGrpcMissing, startDmiPeer, type DmiPeer } from './helpers/dmi-peer.ts';
import { startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.ts';

const missing = pythonGrpcMissing();

const DEVICES = `
apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: { name: counter-model, namespace: default }
spec:
  protocol: pycounter
  properties:
    - { name: count, type: INT, accessMode: ReadOnly }
    - { name: setpoint, type: INT, accessMode: ReadWrite }
    - { name: label, type: STRING, accessMode: ReadOnly }
---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: { name: counter, namespace: default }
spec:
  deviceModelRef: { name: counter-model }
  protocol:
    protocolName: pycounter
    configData:
      host: 10.0.0.5
      port: 502
      scale: 0.1
      secure: false
      registers: [1, 2, 3]
  properties:
    - name: count
      collectCycle: 500
      visitors: { protocolName: pycounter, configData: { register: 7, big: 5000000000 } }
    - name: setpoint
      visitors: { protocolName: pycounter, configData: { register: 8 } }
    - name: label
      visitors: { protocolName: pycounter, configData: { register: 9 } }
---
apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: { name: orphan-model, namespace: default }
spec:
  protocol: nosuchproto
  properties:
    - { name: x, type: INT, accessMode: ReadOnly }
---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: { name: orphan, namespace: default }
spec:
  deviceModelRef: { name: orphan-model }
  protocol: { protocolName: nosuchproto }
  properties:
    - { name: x, visitors: { protocolName: nosuchproto, configData: {} } }
`;

let dir: string;
let pyDir: string;
let dataDir: string;
const peers: DmiPeer[] = [];
let gateway: GatewayProcess | undefined;

before(() => {
  if (missing) return;
  dir = mkdtempSync(join(tmpdir(), 'edgetwin-dmi-a-'));
  dataDir = join(dir, 'data');
  pyDir = compileProtoForPython();
  writeFileSync(join(dir, 'devices.yaml'), DEVICES);
  // retryMs is the only interval this test waits on when a mapper is down; lowered so it takes seconds.
  writeFileSync(join(dir, 'config.yaml'), 'dmi:\n  enabled: true\n  retryMs: 200\n');
});

after(async () => {
  for (const p of peers) await p.stop();
  await gateway?.stop();
});

const start = () => startGatewayProcess({ devices: [join(dir, 'devices.yaml')], dataDir, extra: ['--config', join(dir, 'config.yaml')] });

async function twinOf(g: GatewayProcess, name: string) {
  const res = await fetch(`${g.apiUrl}/api/v1/devices/default/${name}/twin`);
  return res.ok ? ((await res.json()) as { state: string; properties: Record<string, { reported?: { value: unknown; time: number }; reconcile: { state: string } }> }) : undefined;
}

test('a Python DMI mapper registers, gets its device with configData, and its reports reach the twin', { skip: missing }, async () => {
  gateway = await start();
  // Neither a local driver nor a mapper for nosuchproto: the clear error stays, and names both ways out.
  assert.match(gateway.log(), /no driver for protocol \\"nosuchproto\\"[^\n]*DMI mapper that registers protocol \\"nosuchproto\\" at [^\n]*dmi\.sock/);
  const mapper = startDmiPeer(pyDir, 'mapper', {
    protocol: 'pycounter', socket: join(dir, 'pycounter.sock'), managerSocket: join(dataDir, 'dmi.sock'), values: { count: 42, label: 'hello', setpoint: 0 },
  });
  peers.push(mapper);
  const registered = await mapper.next('registered');
  const devices = registered.devices as { name: string; protocolConfig: Record<string, { type: string; value: unknown }>; properties: Record<string, { visitor: Record<string, { type: string; value: unknown }>; collectCycle: number }> }[];
  assert.deepEqual(devices.map((d) => d.name), ['counter']);
  const cfg = devices[0]!.protocolConfig;
  // Scalars travel in the wrappers KubeEdge's edgecore uses; a list in google.protobuf.Value.
  assert.deepEqual(cfg.host, { type: 'StringValue', value: '10.0.0.5' });
  assert.deepEqual(cfg.port, { type: 'Int32Value', value: 502 });
  assert.equal(cfg.scale!.type, 'FloatValue');
  assert.ok(Math.abs((cfg.scale!.value as number) - 0.1) < 1e-6);
  assert.deepEqual(cfg.secure, { type: 'BoolValue', value: false });
  assert.deepEqual(cfg.registers, { type: 'Value', value: [1, 2, 3] });
  const count = devices[0]!.properties.count!;
  assert.deepEqual(count.visitor.register, { type: 'Int32Value', value: 7 });
  // Int64Value: Python's json_format gives int64 as text, its protobuf API as an int.
  assert.equal(count.visitor.big!.type, 'Int64Value');
  assert.equal(Number(count.visitor.big!.value), 5000000000);
  assert.equal(count.collectCycle, 500);
  assert.deepEqual((registered.models as { name: string; properties: Record<string, string> }[]).map((m) => [m.name, m.properties]), [
    ['counter-model', { count: 'INT', setpoint: 'INT', label: 'STRING' }],
  ]);

  await mapper.next('reported');
  const view = await waitFor('the reported values in the twin', async () => {
    const t = await twinOf(gateway!, 'counter');
    return t?.properties.count?.reported?.value === 42 ? t : undefined;
  });
  assert.equal(view.properties.label!.reported!.value, 'hello');
  assert.equal(view.state, 'online');
  // The gateway now serves it: the orphan is still refused.
  assert.equal(await twinOf(gateway, 'orphan'), undefined);
});

test('a desired value reaches the DMI mapper as UpdateDevice and is applied when it reports it', { skip: missing }, async () => {
  const mapper = peers[0]!;
  const from = mapper.events.length;
  const res = await fetch(`${gateway!.apiUrl}/api/v1/devices/default/counter/twin/desired/setpoint`, {
    method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: 17 }),
  });
  assert.equal(res.status, 200, await res.text());
  const update = await mapper.next('UpdateDevice', () => true, from);
  assert.equal((update.device as { properties: Record<string, { desired: string }> }).properties.setpoint!.desired, '17');
  await waitFor('the desired value applied', async () => {
    const t = await twinOf(gateway!, 'counter');
    return t?.properties.setpoint?.reconcile.state === 'applied' && t.properties.setpoint.reported?.value === 17;
  });
});

test('a DMI mapper for a protocol a local driver serves is refused with a clear error', { skip: missing }, async () => {
  const rogue = startDmiPeer(pyDir, 'mapper', { protocol: 'virtual', socket: join(dir, 'rogue.sock'), managerSocket: join(dataDir, 'dmi.sock') });
  peers.push(rogue);
  const refused = await rogue.next('register_error');
  assert.equal(refused.code, 'FAILED_PRECONDITION');
  assert.match(String(refused.details), /protocol "virtual" is served by edgetwin's virtual driver.*another protocolName/);
  await rogue.stop();
});

test('after a gateway restart the registered mapper is dialled again and gets its device without registering again', { skip: missing }, async () => {
  const mapper = peers[0]!;
  await gateway!.stop();
  const from = mapper.events.length;
  const restartedAt = Date.now();
  gateway = await start();
  assert.match(gateway.log(), /mapper registration restored/);
  const again = await mapper.next('RegisterDevice', () => true, from);
  assert.equal((again.device as { name: string }).name, 'counter');
  // Its model came first, as edgecore sends it.
  const order = mapper.events.slice(from).map((e) => e.event);
  assert.ok(order.indexOf('CreateDeviceModel') < order.indexOf('RegisterDevice'), order.join(', '));
  assert.equal(mapper.events.slice(from).filter((e) => e.event === 'registered').length, 0, 'the mapper did not register again');
  await waitFor('a report after the restart in the twin', async () => {
    const t = await twinOf(gateway!, 'counter');
    return (t?.properties.count?.reported?.time ?? 0) >= restartedAt && t!.properties.count!.reported!.value === 42;
  });
});

test('a registered mapper that is down is retried until it answers', { skip: missing }, async () => {
  // The mapper process goes away; the gateway restarts and cannot reach it, then a new mapper
  // process on the same socket is dialled without registering.
  const old = peers[0]!;
  await old.stop();
  await gateway!.stop();
  gateway = await start();
  await waitFor('the gateway to report the mapper unreachable', async () => {
    const h = (await (await fetch(`${gateway!.apiUrl}/healthz`)).json()) as { dmi?: { mappers: { protocol: string; reachable: boolean }[] } };
    return h.dmi?.mappers.some((m) => m.protocol === 'pycounter' && !m.reachable);
  });
  // The twin does not keep showing the state the gone mapper reported last.
  const down = await waitFor('the device state to say the mapper is gone', async () => {
    const t = await twinOf(gateway!, 'counter');
    return t?.state === 'unknown' ? t : undefined;
  });
  assert.match(String((down as { stateReason?: string }).stateReason), /DMI mapper py-mapper at .*pycounter\.sock does not answer/);
  const back = startDmiPeer(pyDir, 'mapper', {
    protocol: 'pycounter', socket: join(dir, 'pycounter.sock'), managerSocket: join(dataDir, 'dmi.sock'), register: false, values: { count: 43, label: 'back' },
  });
  peers.push(back);
  await back.next('RegisterDevice');
  await waitFor('the new value in the twin', async () => (await twinOf(gateway!, 'counter'))?.properties.count?.reported?.value === 43);
});
