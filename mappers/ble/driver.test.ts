// The BLE driver through MapperHost, against simulated peripherals behind noble's binding seam:
// noble, the adapter, the connection and the runtime are the real code; only the radio is simulated.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../core/log.ts';
import { makeDevice, RecordingSink, waitFor, type PropertyInput } from '../sdk/conformance/harness.ts';
import { MapperHost } from '../sdk/host.ts';
import { virtualLoader } from '../virtual/index.ts';
import { createBleLoader } from './index.ts';
import { ALARM_CHAR, BEACON_ADDRESS, CONTROL_CHAR, ENV_ADDRESS, LED_CHAR, TAG_ADDRESS, testWorld } from './sim/sensors.ts';
import { SimWorld } from './sim/world.ts';

async function withHost(world: SimWorld, fn: (host: MapperHost, sink: RecordingSink) => Promise<void>) {
  const sink = new RecordingSink();
  const host = new MapperHost({ sink, drivers: [createBleLoader({ kind: 'sim', world }), virtualLoader], log: silentLogger, dataDir: '.', backoff: { initialMs: 20, maxMs: 200 } });
  try {
    await fn(host, sink);
  } finally {
    await host.close();
  }
}

const ble = (name: string, config: Record<string, unknown>, properties: PropertyInput[]) => makeDevice({ name, protocol: 'bluetooth', config, properties });
const good = (sink: RecordingSink, device: string, property: string) => sink.readings.filter((r) => r.device === device && r.property === property && r.quality === 'good').at(-1);

test('polls GATT reads: well-known characteristics decode alone, dataType and dataConverter as configured', async () => {
  const world = new SimWorld(testWorld());
  await withHost(world, async (host, sink) => {
    const env = ble('env', { macAddress: ENV_ADDRESS }, [
      { name: 'temperature', type: 'float', visitor: { characteristicUUID: '2A6E' } },
      { name: 'humidity', type: 'float', visitor: { characteristicUUID: '00002a6f-0000-1000-8000-00805f9b34fb', dataType: 'uint16', byteOrder: 'little', scale: 0.01 } },
      { name: 'pressure', type: 'float', visitor: { characteristicUUID: '2a6d' } },
      { name: 'model', type: 'string', visitor: { characteristicUUID: '2a24' } },
    ]);
    const tag = ble('tag', { macAddress: TAG_ADDRESS }, [
      { name: 'irTemperature', type: 'double', visitor: { characteristicUUID: 'f000aa11-0451-4000-b000-000000000000', dataConverter: { startIndex: 1, endIndex: 0, shiftRight: 2, orderOfOperations: [{ operationType: 'Multiply', operationValue: 0.03125 }] } } },
    ]);
    const { errors } = await host.apply([env, tag]);
    assert.deepEqual(errors.map((e) => e.format()), []);
    assert.equal((await waitFor(() => good(sink, env.id, 'temperature'), 'temperature')).value, 21.5);
    assert.equal((await waitFor(() => good(sink, env.id, 'humidity'), 'humidity')).value, 45.2);
    assert.equal((await waitFor(() => good(sink, env.id, 'pressure'), 'pressure')).value, 101325);
    assert.equal((await waitFor(() => good(sink, env.id, 'model'), 'model')).value, 'ENV-3');
    assert.equal((await waitFor(() => good(sink, tag.id, 'irTemperature'), 'irTemperature')).value, 22.96875);
    world.peripheral(ENV_ADDRESS).setValue('2a6e', { int16: -512 });
    await waitFor(() => good(sink, env.id, 'temperature')?.value === -5.12, 'the next poll to see the new value');
  });
});

test('notify delivers pushed values; a disconnect is noticed, the device reconnects and subscribes again', async () => {
  const world = new SimWorld(testWorld());
  const sensor = world.peripheral(ENV_ADDRESS);
  await withHost(world, async (host, sink) => {
    const d = ble('env', { macAddress: ENV_ADDRESS }, [
      // A long collectCycle: only a notification can deliver the changes below in time.
      { name: 'temperature', type: 'float', collectCycle: 3_600_000, visitor: { characteristicUUID: '2a6e', mode: 'notify' } },
      { name: 'battery', type: 'int', collectCycle: 50, visitor: { characteristicUUID: '2a19' } },
    ]);
    // A second device keeps the adapter open, so the reconnect reuses noble's peripheral objects.
    const tag = ble('tag', { macAddress: TAG_ADDRESS }, [{ name: 'raw', type: 'bytes', visitor: { characteristicUUID: 'f000aa11-0451-4000-b000-000000000000' } }]);
    await host.apply([d, tag]);
    await waitFor(() => sensor.subscriptions.has('2a6e'), 'the subscription');
    sensor.setValue('2a6e', { int16: 2233 });
    assert.equal((await waitFor(() => good(sink, d.id, 'temperature'), 'a notification')).value, 22.33);
    await waitFor(() => good(sink, d.id, 'battery')?.value === 87, 'the polled battery level beside it');

    sensor.disconnect('supervision timeout');
    const drop = await waitFor(() => sink.states.find((s) => s.device === d.id && s.state === 'offline'), 'offline after the disconnect');
    assert.match(drop.reason!, /disconnected \(supervision timeout\)/);
    await waitFor(() => sensor.subscribes === 2 && sensor.subscriptions.has('2a6e'), 'a new subscription after the reconnect');
    assert.equal(sink.lastState(d.id), 'online');
    assert.equal(sensor.connects, 2);
    sensor.setValue('2a6e', { int16: 2401 });
    await waitFor(() => good(sink, d.id, 'temperature')?.value === 24.01, 'notifications flowing again');
  });
});

test('writes with response through the codec, and without response through KubeEdge dataWrite', async () => {
  const world = new SimWorld(testWorld());
  const sensor = world.peripheral(ENV_ADDRESS);
  await withHost(world, async (host, sink) => {
    const d = ble('env', { macAddress: ENV_ADDRESS }, [
      { name: 'interval', type: 'int', accessMode: 'ReadWrite', visitor: { characteristicUUID: CONTROL_CHAR, dataType: 'uint8' } },
      { name: 'led', type: 'string', accessMode: 'ReadWrite', visitor: { characteristicUUID: LED_CHAR, writeWithoutResponse: true, dataWrite: { ON: [1, 255], OFF: [0] } } },
    ]);
    await host.apply([d]);
    await waitFor(() => sink.lastState(d.id) === 'online', 'online');
    assert.deepEqual(await host.write(d.id, 'interval', 30), { ok: true, readBack: 30 });
    assert.deepEqual(sensor.writes.at(-1), { uuid: CONTROL_CHAR.replace(/-/g, ''), data: Buffer.from([30]), withoutResponse: false });

    const on = await host.write(d.id, 'led', 'ON');
    assert.equal(on.ok, true, on.error?.message);
    assert.equal(on.readBack, 'ON', 'a write-only characteristic reads back the value last written');
    assert.deepEqual(sensor.writes.at(-1), { uuid: LED_CHAR.replace(/-/g, ''), data: Buffer.from([1, 255]), withoutResponse: true });
    const bad = await host.write(d.id, 'led', 'BLINK');
    assert.equal(bad.ok, false);
    assert.match(bad.error!.message, /dataWrite has no bytes for "BLINK" \(it maps "ON", "OFF"\)/);
    const tooBig = await host.write(d.id, 'interval', 300);
    assert.equal(tooBig.ok, false);
    assert.equal(sensor.writes.length, 2, 'a value that does not fit is refused before anything is sent');
  });
});

test('advertisement-only sensors: manufacturer data, service data and RSSI decoded without connecting', async () => {
  const world = new SimWorld(testWorld());
  await withHost(world, async (host, sink) => {
    const d = ble('beacon', { macAddress: BEACON_ADDRESS }, [
      { name: 'temperature', type: 'float', visitor: { advertisement: { source: 'manufacturerData', companyId: 0x0499 }, dataType: 'int16', byteOrder: 'big', offset: 1, scale: 0.005 } },
      { name: 'battery', type: 'int', visitor: { advertisement: { source: 'serviceData', serviceUUID: 'FCD2' }, dataType: 'uint8', offset: 2 } },
      { name: 'rssi', type: 'int', visitor: { advertisement: { source: 'rssi' } } },
    ]);
    const { errors } = await host.apply([d]);
    assert.deepEqual(errors.map((e) => e.format()), []);
    await waitFor(() => good(sink, d.id, 'temperature')?.value === 22.5, 'the first manufacturer-data value');
    await waitFor(() => good(sink, d.id, 'temperature')?.value === 23, 'the changed advertisement');
    assert.equal((await waitFor(() => good(sink, d.id, 'battery'), 'battery')).value, 90);
    assert.equal((await waitFor(() => good(sink, d.id, 'rssi'), 'rssi')).value, -77);
    assert.equal(world.peripheral(BEACON_ADDRESS).connects, 0, 'never connected');

    world.peripheral(BEACON_ADDRESS).setReachable(false);
    const d2 = ble('beacon', { macAddress: BEACON_ADDRESS, advertisementTimeout: 300 }, [{ name: 'rssi', type: 'int', visitor: { advertisement: { source: 'rssi' } } }]);
    world.peripheral(BEACON_ADDRESS).setReachable(true);
    await host.apply([d2]);
    await waitFor(() => sink.lastState(d2.id) === 'online', 'online again');
    world.peripheral(BEACON_ADDRESS).setReachable(false);
    const stale = await waitFor(() => sink.states.filter((s) => s.state === 'offline').at(-1), 'offline when advertisements stop');
    assert.match(stale.reason!, /no advertisement from E2:15:3A:00:33:03 for 300 ms/);
  });
});

test('connection slots: a device waits for a free slot, is offline naming the holders, and connects once one frees', async () => {
  const world = new SimWorld(testWorld());
  await withHost(world, async (host, sink) => {
    const cfg = { maxConnections: 1, timeout: 600 };
    const env = ble('env', { macAddress: ENV_ADDRESS, ...cfg }, [{ name: 'battery', type: 'int', visitor: { characteristicUUID: '2a19' } }]);
    const tag = ble('tag', { macAddress: TAG_ADDRESS, ...cfg }, [{ name: 'raw', type: 'bytes', visitor: { characteristicUUID: 'f000aa11-0451-4000-b000-000000000000' } }]);
    await host.apply([env]);
    await waitFor(() => sink.lastState(env.id) === 'online', 'the first device online');
    await host.apply([env, tag]);
    const refused = await waitFor(() => sink.states.find((s) => s.device === tag.id && s.state === 'offline'), 'the second device refused a slot');
    assert.match(refused.reason!, /all 1 connection slots of adapter hci0 are taken \(by default\/env\)/);
    assert.equal(world.connectedCount, 1);
    await host.apply([tag]);
    await waitFor(() => sink.lastState(tag.id) === 'online', 'the second device online once the slot frees');
    await waitFor(() => good(sink, tag.id, 'raw'), 'a reading');
  });
});

test('no adapter: the BLE device is offline naming the adapter; a virtual device beside it keeps reading', async () => {
  const world = new SimWorld(testWorld({ adapter: { present: false } }));
  await withHost(world, async (host, sink) => {
    const d = ble('env', { macAddress: ENV_ADDRESS }, [{ name: 'battery', type: 'int', visitor: { characteristicUUID: '2a19' } }]);
    const v = makeDevice({ name: 'meter', protocol: 'virtual', properties: [{ name: 'level', type: 'double', collectCycle: 20, visitor: { function: 'ramp', min: 0, max: 1000, period: 1000 } }] });
    const { errors } = await host.apply([d, v]);
    assert.deepEqual(errors, []);
    const off = await waitFor(() => sink.states.find((s) => s.device === d.id && s.state === 'offline'), 'the BLE device offline');
    assert.match(off.reason!, /no Bluetooth adapter: hci0 is not present/);
    assert.match(off.reason!, /--ble-binding sim:<file>/);
    const mark = sink.readings.length;
    await waitFor(() => sink.readings.slice(mark).filter((r) => r.device === v.id && r.quality === 'good').length >= 3, 'the virtual device reading on');
  });
});

test('rejects configurations with an error naming the field and property', async () => {
  const world = new SimWorld(testWorld());
  await withHost(world, async (host) => {
    const cases: [PropertyInput, RegExp][] = [
      [{ name: 'a', type: 'float', visitor: { characteristicUUID: 'f000aa11-0451-4000-b000-000000000000' } }, /property a.*dataType: say how to turn the bytes into a float/],
      [{ name: 'b', type: 'int', visitor: {} }, /property b.*characteristicUUID is required/],
      [{ name: 'c', type: 'int', accessMode: 'ReadWrite', visitor: { advertisement: { source: 'rssi' } } }, /property c.*cannot be written/],
      [{ name: 'd', type: 'int', visitor: { characteristicUUID: '2a19', dataConverter: { startIndex: 0, endIndex: 1, orderOfOperations: [{ operationType: 'Power', operationValue: 2 }] } } }, /property d.*operationType/],
    ];
    for (const [prop, pattern] of cases) {
      const { errors } = await host.check([ble('bad', { macAddress: ENV_ADDRESS }, [prop])]);
      assert.match(errors.map((e) => e.format()).join('\n'), pattern);
    }
    const { errors } = await host.check([ble('bad', { macAddress: 'C4-7C-8D' }, [{ name: 'x', type: 'int', visitor: { characteristicUUID: '2a19' } }])]);
    assert.match(errors[0]!.format(), /macAddress/);
  });
});

test('indicate delivers pushed values; a refused subscription or a missing characteristic fails that property only', async () => {
  const world = new SimWorld(testWorld());
  await withHost(world, async (host, sink) => {
    const d = ble('env', { macAddress: ENV_ADDRESS }, [
      { name: 'pressure', type: 'float', visitor: { characteristicUUID: '2a6d', mode: 'notify' } },
      { name: 'ghost', type: 'bytes', visitor: { characteristicUUID: 'ffe9', mode: 'indicate' } },
      { name: 'humidity', type: 'float', visitor: { characteristicUUID: '2a6f', mode: 'notify' } },
      { name: 'alarm', type: 'boolean', visitor: { characteristicUUID: ALARM_CHAR, mode: 'indicate', dataType: 'bool' } },
      { name: 'battery', type: 'int', collectCycle: 50, visitor: { characteristicUUID: '2a19' } },
    ]);
    await host.apply([d]);
    await waitFor(() => world.peripheral(ENV_ADDRESS).subscriptions.has(ALARM_CHAR.replace(/-/g, '')), 'the indication subscription');
    world.peripheral(ENV_ADDRESS).setValue(ALARM_CHAR, { uint8: 1 });
    assert.equal((await waitFor(() => good(sink, d.id, 'alarm'), 'an indication')).value, true);
    const refused = await waitFor(() => sink.readings.find((r) => r.property === 'pressure' && r.error?.code === 'ENOTIFY'), 'the refused subscription');
    assert.match(refused.error!.message, /subscribing to 2a6d \(mode notify\): characteristic supports neither notify nor indicate/);
    const ghost = await waitFor(() => sink.readings.find((r) => r.property === 'ghost' && r.error?.code === 'ENOCHAR'), 'the missing characteristic');
    assert.match(ghost.error!.message, /has no characteristic ffe9 \(service\/characteristic found: 180a\/2a29/);
    assert.equal((await waitFor(() => good(sink, d.id, 'humidity'), 'humidity')).value, 45.2);
    world.peripheral(ENV_ADDRESS).setValue('2a19', { uint8: 55 });
    await waitFor(() => good(sink, d.id, 'battery')?.value === 55, 'the polled property of a mixed device read on its cycle');
    assert.equal(sink.lastState(d.id), 'online');
  });
});

test('an adapter unplugged and plugged back: BLE devices go offline naming it, then come back by themselves', async () => {
  const world = new SimWorld(testWorld());
  await withHost(world, async (host, sink) => {
    const d = ble('env', { macAddress: ENV_ADDRESS }, [{ name: 'temperature', type: 'float', visitor: { characteristicUUID: '2a6e', mode: 'notify' } }]);
    await host.apply([d]);
    await waitFor(() => sink.lastState(d.id) === 'online', 'online');
    const mark = sink.states.length;
    world.setAdapterPresent(false);
    await waitFor(() => sink.states.slice(mark).some((s) => s.state === 'offline' && /no Bluetooth adapter: hci0/.test(s.reason ?? '')), 'offline naming the missing adapter');
    world.setAdapterPresent(true);
    await waitFor(() => sink.lastState(d.id) === 'online', 'online again once the adapter is back');
    world.peripheral(ENV_ADDRESS).setValue('2a6e', { int16: 1999 });
    await waitFor(() => good(sink, d.id, 'temperature')?.value === 19.99, 'notifications after the adapter came back');
  });
});
