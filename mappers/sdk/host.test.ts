import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { ErrorCodes } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import { virtualLoader, virtualSwitch } from '../virtual/index.ts';
import { makeDevice, RecordingSink, waitFor, type PropertyInput } from './conformance/harness.ts';
import { defineDriver, SDK_VERSION } from './driver.ts';
import { MapperHost, type DriverLoader } from './host.ts';

/** A register device, as a Modbus-like driver sees it: 16-bit registers, raw bytes, a codec. */
function registerDriver(registers: Map<number, number>, writes: Uint8Array[]): DriverLoader {
  const driver = defineDriver<{ port?: string }, { address: number; scale?: number }>({
    name: 'regs',
    sdkVersion: `^${SDK_VERSION}`,
    protocolSchema: { type: 'object', properties: { port: { type: 'string' } } },
    visitorSchema: { type: 'object', required: ['address'], properties: { address: { type: 'integer' }, scale: { type: 'number' } } },
    codec: (p) => ({ type: 'uint16', scale: p.visitor.scale }),
    serial: (d) => (d.config.port ? { path: d.config.port, baudRate: 9600 } : undefined),
    async connect() {
      return {
        async read(req) {
          return req.properties.map((p) => {
            const v = registers.get(p.visitor.address) ?? 0;
            return { property: p.name, raw: Uint8Array.of(v >> 8, v & 0xff) };
          });
        },
        async write(p, { raw }) {
          writes.push(raw!);
          registers.set(p.visitor.address, (raw![0]! << 8) | raw![1]!);
        },
        async close() {},
      };
    },
  });
  return { name: 'regs', load: async () => driver };
}

function virtualDevice(name: string, config: Record<string, unknown>, properties?: PropertyInput[]) {
  return makeDevice({
    name,
    protocol: 'virtual',
    config,
    properties: properties ?? [
      { name: 'temperature', type: 'double', visitor: { function: 'constant', value: 21.5 } },
      { name: 'setpoint', type: 'double', accessMode: 'ReadWrite', visitor: { function: 'constant', value: 20 } },
    ],
  });
}

async function withHost(fn: (host: MapperHost, sink: RecordingSink) => Promise<void>, drivers: DriverLoader[] = [virtualLoader], registry?: Registry) {
  const sink = new RecordingSink();
  const host = new MapperHost({ sink, drivers, log: silentLogger, dataDir: '.', backoff: { initialMs: 20, maxMs: 200 }, registry });
  try {
    await fn(host, sink);
  } finally {
    await host.close();
  }
}

test('apply starts new devices, restarts only changed ones, stops removed ones', async () => {
  await withHost(async (host) => {
    const a = virtualDevice('a', {});
    const b = virtualDevice('b', {});
    assert.deepEqual(await host.apply([a, b]), { started: [a.id, b.id], stopped: [], restarted: [], errors: [] });
    const b2 = virtualDevice('b', { seed: 3 });
    assert.notEqual(b2.fingerprint, b.fingerprint);
    assert.deepEqual(await host.apply([a, b2]), { started: [], stopped: [], restarted: [b.id], errors: [] });
    assert.deepEqual(await host.apply([a, b2]), { started: [], stopped: [], restarted: [], errors: [] });
    assert.deepEqual(await host.apply([a]), { started: [], stopped: [b.id], restarted: [], errors: [] });
    assert.equal(host.serves(b.id), false);
    assert.equal(host.serves(a.id), true);
  });
});

test('an invalid edit of a running device is reported and the last good version keeps running', async () => {
  await withHost(async (host, sink) => {
    const a = virtualDevice('a', {});
    await host.apply([a]);
    const broken = virtualDevice('a', {}, [{ name: 'temperature', type: 'double', visitor: { function: 'sine', period: -5 } }]);
    const result = await host.apply([broken]);
    assert.deepEqual([result.started, result.stopped, result.restarted], [[], [], []]);
    assert.equal(result.errors.length, 1);
    assert.equal(result.errors[0]!.code, ErrorCodes.VISITOR_CONFIG);
    assert.match(result.errors[0]!.format(), /^test\/devices\.yaml:10: default\/a property temperature: spec\.properties\[name=temperature\]\.visitors\.configData\.period: .*period: -5 must be above 0/);
    assert.equal(host.serves(a.id), true);
    await waitFor(() => sink.latest(a.id, 'temperature')?.value === 21.5, 'the old version to keep reading');
  });
});

test('an unknown protocol is an error naming the file, the line and the installed drivers', async () => {
  await withHost(async (host) => {
    const d = makeDevice({ name: 'x', protocol: 'profinet', properties: [], file: 'plant.yaml' });
    const { accepted, errors } = await host.check([d]);
    assert.deepEqual(accepted, []);
    assert.equal(errors[0]!.code, ErrorCodes.PROTOCOL_UNKNOWN);
    assert.match(errors[0]!.format(), /^plant\.yaml:1: default\/x: spec\.protocol\.protocolName: no driver for protocol "profinet" \(installed: virtual\)/);
  });
});

test('two protocols on one serial port: LINK_CONFLICT at check, the first device keeps its port', async () => {
  const serialDriver = (name: string): DriverLoader => ({
    name,
    load: async () => defineDriver({
      name, sdkVersion: '^1.0.0', protocolSchema: {}, visitorSchema: {},
      serial: () => ({ path: '/dev/ttyS1', baudRate: name === 'serial' ? 9600 : 19200 }),
      async connect() { throw new Error('not needed'); },
    }),
  });
  await withHost(async (host) => {
    const meter = makeDevice({ name: 'meter', protocol: 'regs-rtu', properties: [] });
    const scale = makeDevice({ name: 'scale', protocol: 'serial', properties: [], file: 'scale.yaml' });
    const { accepted, errors } = await host.check([meter, scale]);
    assert.deepEqual(accepted.map((d) => d.id), [meter.id]);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.code, ErrorCodes.LINK_CONFLICT);
    assert.match(errors[0]!.format(), /^scale\.yaml:1: default\/scale: .*\/dev\/ttyS1 is already used by regs-rtu device default\/meter/);
  }, [serialDriver('regs-rtu'), serialDriver('serial')]);
});

test('raw registers go through the codec: 235 with scale 0.1 reads 23.5; writing 24.1 sends 241 and reads it back', async () => {
  const registers = new Map([[7, 235]]);
  const writes: Uint8Array[] = [];
  await withHost(async (host, sink) => {
    const d = makeDevice({ name: 'plc', protocol: 'regs', properties: [{ name: 'sp', type: 'double', accessMode: 'ReadWrite', visitor: { address: 7, scale: 0.1 } }] });
    await host.apply([d]);
    await waitFor(() => sink.latest(d.id, 'sp')?.value === 23.5, 'the scaled reading');
    const outcome = await host.write(d.id, 'sp', '24.1');
    assert.deepEqual(outcome, { ok: true, readBack: 24.1 });
    assert.deepEqual([...writes[0]!], [0x00, 0xf1]);
    const tooBig = await host.write(d.id, 'sp', 7000);
    assert.equal(tooBig.ok, false);
    assert.equal(tooBig.error?.code, 'ECODEC');
    assert.match(tooBig.error!.message, /out of range for uint16/);
    assert.equal(writes.length, 1, 'nothing is sent when the value does not encode');
  }, [registerDriver(registers, writes)]);
});

test('write then read back; ReadOnly, unknown and disconnected devices get clear refusals', async () => {
  const sw = virtualSwitch('host-test-write');
  sw.restore();
  await withHost(async (host, sink) => {
    const d = virtualDevice('thermostat', { switch: 'host-test-write' });
    await host.apply([d]);
    await waitFor(() => sink.lastState(d.id) === 'online', 'online');
    assert.deepEqual(await host.write(d.id, 'setpoint', 23), { ok: true, readBack: 23 });
    await waitFor(() => sink.latest(d.id, 'setpoint')?.value === 23, 'the written value to be reported');
    const ro = await host.write(d.id, 'temperature', 1);
    assert.equal(ro.error?.code, ErrorCodes.READ_ONLY);
    assert.match(ro.error!.message, /temperature of default\/thermostat is ReadOnly/);
    const bad = await host.write(d.id, 'setpoint', 'warm');
    assert.equal(bad.error?.code, ErrorCodes.BAD_REQUEST);
    assert.match(bad.error!.message, /cannot write "warm" to setpoint \(type double\)/);
    const none = await host.write('default/nope', 'setpoint', 1);
    assert.equal(none.error?.code, ErrorCodes.NOT_FOUND);
    sw.cut();
    await waitFor(() => sink.lastState(d.id) === 'offline', 'offline');
    const off = await host.write(d.id, 'setpoint', 24);
    assert.equal(off.ok, false);
    assert.equal(off.error?.code, 'ENOTCONN');
    assert.match(off.error!.message, /default\/thermostat is offline \(.*cut.*\); the write was not sent/);
    sw.restore();
    await waitFor(() => sink.lastState(d.id) === 'online', 'online again');
    assert.deepEqual(await host.write(d.id, 'setpoint', 24), { ok: true, readBack: 24 });
  });
});

test('unhealthy when connected but every read fails; offline when the connection is gone', async () => {
  const sw = virtualSwitch('host-test-health');
  sw.restore();
  await withHost(async (host, sink) => {
    const failing = virtualDevice('failing', { faults: { errorRate: 1 } });
    const cut = virtualDevice('cut', { switch: 'host-test-health' });
    await host.apply([failing, cut]);
    await waitFor(() => sink.lastState(failing.id) === 'unhealthy', 'the failing device to be unhealthy');
    const unhealthy = sink.states.find((s) => s.device === failing.id && s.state === 'unhealthy')!;
    assert.match(unhealthy.reason!, /every read fails: EVIRTUAL_FAULT/);
    const r = sink.latest(failing.id, 'temperature')!;
    assert.equal(r.quality, 'bad');
    assert.equal(r.error?.code, 'EVIRTUAL_FAULT');
    await waitFor(() => sink.lastState(cut.id) === 'online', 'the other device online');
    sw.cut();
    await waitFor(() => sink.lastState(cut.id) === 'offline', 'offline after the cut');
    assert.match(sink.states.filter((s) => s.device === cut.id).at(-1)!.reason!, /connection lost: .*cut/);
    await waitFor(() => sink.latest(cut.id, 'temperature')?.error?.code === 'ENOTCONN', 'values marked bad while offline');
  });
});

test('a device that cannot connect keeps retrying and never holds up the others', async () => {
  const sw = virtualSwitch('host-test-retry');
  sw.cut();
  const registry = new Registry();
  await withHost(async (host, sink) => {
    const down = virtualDevice('down', { switch: 'host-test-retry' });
    const up = virtualDevice('up', {});
    await host.apply([down, up]);
    assert.equal(sink.states.find((s) => s.device === down.id)?.state, 'unknown');
    await waitFor(() => sink.latest(up.id, 'temperature')?.value === 21.5, 'the healthy device to read');
    const offline = await waitFor(() => sink.states.find((s) => s.device === down.id && s.state === 'offline'), 'offline');
    assert.match(offline.reason!, /connect failed: virtual switch host-test-retry is cut/);
    sw.restore();
    await waitFor(() => sink.lastState(down.id) === 'online', 'the device to connect once the switch is back');
    const text = await registry.metrics();
    assert.match(text, /edgetwin_mapper_reads_total\{device="default\/up",protocol="virtual"\} [1-9]/);
    assert.match(text, /edgetwin_mapper_device_state\{device="default\/down",protocol="virtual",state="online"\} 1/);
    assert.doesNotMatch(text, /property=/);
  }, [virtualLoader], registry);
});

test('deadband and reportCycle decide what reaches the sink', async () => {
  await withHost(async (host, sink) => {
    const d = virtualDevice('ramp', {}, [
      { name: 'slow', type: 'double', collectCycle: 20, deadband: 1000, visitor: { function: 'ramp', min: 0, max: 100, period: 1_000_000 } },
      { name: 'steady', type: 'int', collectCycle: 20, reportCycle: 60, visitor: { function: 'constant', value: 5 } },
    ]);
    await host.apply([d]);
    await waitFor(() => sink.readings.filter((r) => r.property === 'steady').length >= 3, 'steady to be re-reported');
    assert.equal(sink.readings.filter((r) => r.property === 'slow').length, 1, 'changes inside the deadband are not reported');
  });
});

test('a push driver (subscribe) reports what it emits and is not polled', async () => {
  let emit: ((r: { property: string; value?: number }[]) => void) | undefined;
  let reads = 0;
  let unsubscribed = false;
  const push: DriverLoader = {
    name: 'push',
    load: async () => defineDriver({
      name: 'push', sdkVersion: '^1.0.0', protocolSchema: {}, visitorSchema: {},
      async connect() {
        return {
          async read() { reads++; return []; },
          async write() {},
          async subscribe(_props, e) { emit = e; return async () => { unsubscribed = true; }; },
          async close() {},
        };
      },
    }),
  };
  await withHost(async (host, sink) => {
    const d = makeDevice({ name: 'sensor', protocol: 'push', properties: [{ name: 'rssi', type: 'int', collectCycle: 5 }] });
    await host.apply([d]);
    await waitFor(() => emit, 'the subscription');
    emit!([{ property: 'rssi', value: -61 }]);
    assert.equal(sink.latest(d.id, 'rssi')?.value, -61);
    await host.apply([]);
    assert.equal(unsubscribed, true);
    assert.equal(reads, 0);
  }, [push]);
});

test('a driver that names its pushed properties has the others polled', async () => {
  let emit: ((r: { property: string; value?: number }[]) => void) | undefined;
  const subscribed: string[] = [];
  const read: string[] = [];
  const mixed: DriverLoader = {
    name: 'mixed',
    load: async () => defineDriver({
      name: 'mixed', sdkVersion: '^1.0.0', protocolSchema: {}, visitorSchema: {},
      pushes: (p) => p.name === 'temperature',
      async connect() {
        return {
          async read(req) {
            read.push(...req.properties.map((p) => p.name));
            return req.properties.map((p) => ({ property: p.name, value: 87 }));
          },
          async write() {},
          async subscribe(props, e) { subscribed.push(...props.map((p) => p.name)); emit = e; return async () => {}; },
          async close() {},
        };
      },
    }),
  };
  await withHost(async (host, sink) => {
    const d = makeDevice({ name: 'sensor', protocol: 'mixed', properties: [{ name: 'temperature', type: 'int', collectCycle: 5 }, { name: 'battery', type: 'int', collectCycle: 5 }] });
    await host.apply([d]);
    await waitFor(() => emit, 'the subscription');
    emit!([{ property: 'temperature', value: 21 }]);
    assert.equal(sink.latest(d.id, 'temperature')?.value, 21);
    await waitFor(() => sink.latest(d.id, 'battery')?.value === 87, 'battery polled');
    assert.deepEqual(subscribed, ['temperature']);
    assert.ok(read.length > 0 && read.every((name) => name === 'battery'), `polled only battery, got ${read.join(',')}`);
  }, [mixed]);
});

test('a push driver takes writes while it subscribes, and is unsubscribed when stopped mid-subscribe', async () => {
  let release: (() => void) | undefined;
  let subscribing = false;
  let unsubscribed = 0;
  const written: unknown[] = [];
  const push: DriverLoader = {
    name: 'slowpush',
    load: async () => defineDriver({
      name: 'slowpush', sdkVersion: '^1.0.0', protocolSchema: {}, visitorSchema: {},
      async connect() {
        return {
          async read(req) { return req.properties.map((p) => ({ property: p.name, value: 1 })); },
          async write(_p, v) { written.push(v.value); },
          async subscribe() {
            subscribing = true;
            await new Promise<void>((resolve) => (release = resolve));
            return async () => { unsubscribed++; };
          },
          async close() {},
        };
      },
    }),
  };
  await withHost(async (host) => {
    const d = makeDevice({ name: 'slow', protocol: 'slowpush', properties: [{ name: 'setpoint', type: 'int', accessMode: 'ReadWrite' }] });
    await host.apply([d]);
    await waitFor(() => subscribing, 'the subscription to start');
    const outcome = await host.write(d.id, 'setpoint', 7);
    assert.equal(outcome.ok, true, outcome.error?.message);
    assert.deepEqual(written, [7]);
    await host.apply([]);
    release!();
    await waitFor(() => unsubscribed === 1 || undefined, 'the late subscription to be unsubscribed');
  }, [push]);
});

test('a read that never settles and ignores its signal is cut off at its timeout: bad readings, unhealthy, polled again', async () => {
  let reads = 0;
  const driver = defineDriver<Record<string, never>, { n: number }>({
    name: 'deaf',
    sdkVersion: `^${SDK_VERSION}`,
    protocolSchema: { type: 'object' },
    visitorSchema: { type: 'object', properties: { n: { type: 'integer' } } },
    timeout: () => 150,
    async connect() {
      return {
        // Never settles, never looks at its signal: the runtime alone must notice.
        read: () => { reads++; return new Promise(() => {}); },
        async write() {},
        async close() {},
      };
    },
  });
  await withHost(async (host, sink) => {
    const device = makeDevice({ name: 'deaf-1', protocol: 'deaf', config: {}, properties: [{ name: 'x', type: 'int', visitor: { n: 1 }, collectCycle: 100 }] });
    const { errors } = await host.apply([device]);
    assert.deepEqual(errors, []);
    await waitFor(() => sink.readings.some((r) => r.property === 'x' && r.error?.code === 'ETIMEDOUT'), 'a timeout reading');
    const bad = sink.readings.find((r) => r.error?.code === 'ETIMEDOUT')!;
    assert.equal(bad.quality, 'bad');
    assert.match(bad.error!.message, /no answer within 150 ms/);
    await waitFor(() => sink.states.some((s) => s.device === device.id && s.state === 'unhealthy'), 'the device unhealthy');
    await waitFor(() => reads >= 3, 'polled again after the cut-off');
  }, [{ name: 'deaf', load: async () => driver }]);
});

test('a driver answering in blocks: an unchanged block is counted, not decoded; a change, a due reportCycle or a bad decode is', async () => {
  const words = [100, 200];
  let decoded = 0;
  const driver = defineDriver<Record<string, never>, { word: number }>({
    name: 'blocks',
    sdkVersion: `^${SDK_VERSION}`,
    protocolSchema: { type: 'object' },
    visitorSchema: { type: 'object', required: ['word'], properties: { word: { type: 'integer' } } },
    codec: (p) => (p.spec.type === 'boolean' ? { type: 'bit', bitIndex: 0 } : { type: 'int16' }),
    async connect() {
      return {
        async read(req) {
          const block = Uint8Array.from(words.flatMap((w) => [(w >> 8) & 0xff, w & 0xff]));
          return { block, readings: () => { decoded++; return req.properties.map((p) => ({ property: p.name, raw: block.subarray(p.visitor.word * 2, p.visitor.word * 2 + 2) })); } };
        },
        async write() {},
        async close() {},
      };
    },
  });
  const registry = new Registry();
  await withHost(async (host, sink) => {
    const device = makeDevice({ name: 'blk', protocol: 'blocks', config: {}, properties: [
      { name: 'a', type: 'int', collectCycle: 20, visitor: { word: 0 } },
      { name: 'b', type: 'int', collectCycle: 20, reportCycle: 400, visitor: { word: 1 } },
    ] });
    assert.deepEqual((await host.apply([device])).errors, []);
    const reads = async () => (await host.metrics.reads.get()).values.reduce((n, v) => n + v.value, 0);
    await waitFor(() => sink.latest(device.id, 'b')?.value === 200, 'the first values');
    const decodedAtStart = decoded;
    const readsAtStart = await reads();
    await new Promise((r) => setTimeout(r, 200));
    assert.ok((await reads()) >= readsAtStart + 10, 'unchanged polls still count as reads');
    assert.equal(decoded, decodedAtStart, 'an unchanged block is not decoded');
    assert.equal(sink.readings.filter((r) => r.property === 'a').length, 1, 'nor reported again');
    words[0] = 101;
    await waitFor(() => sink.latest(device.id, 'a')?.value === 101, 'a change decoded and reported');
    assert.equal(sink.readings.filter((r) => r.property === 'b').length, 1, 'the unchanged neighbour is not reported');
    await waitFor(() => sink.readings.filter((r) => r.property === 'b').length === 2, 'b again when its reportCycle is due');
  }, [{ name: 'blocks', load: async () => driver }], registry);
});
