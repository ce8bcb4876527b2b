// Each framing and checksum end to end: the serial driver in a MapperHost, a socat pty pair the
// test starts, and a peer on the far end that speaks the protocol byte for byte.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../core/log.ts';
import type { ConfigData } from '../core/model/types.ts';
import { MapperHost } from '../mappers/sdk/index.ts';
import { makeDevice, RecordingSink, waitFor } from '../mappers/sdk/testing.ts';
import { serialLoader } from '../mappers/serial/index.ts';
import { appendChecksum, checksumBytes } from '../mappers/serial/checksum.ts';
import { frameOut } from '../mappers/serial/framer.ts';
import { PtyPair } from '../examples/serial-instruments/pty.ts';
import { InstrumentPort } from '../examples/serial-instruments/instruments.ts';
import type { PropertyInput } from '../mappers/sdk/conformance/harness.ts';

const WAIT = 20_000;
let dir: string;
let n = 0;
const cleanups: (() => Promise<void>)[] = [];

before(() => { dir = mkdtempSync(join(tmpdir(), 'edgetwin-serial-framing-')); });
after(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

/** A pty pair, the peer's end open, and a host running the given devices on the gateway's end. */
async function rig(onData: (chunk: Buffer, write: (b: Uint8Array | string) => void) => void) {
  const pty = new PtyPair(join(dir, `g${++n}`), join(dir, `i${n}`));
  await pty.start();
  const peer = new InstrumentPort();
  await peer.open(pty.instrument, onData);
  const sink = new RecordingSink();
  const host = new MapperHost({ sink, drivers: [serialLoader], log: silentLogger, dataDir: dir, backoff: { initialMs: 50, maxMs: 500 } });
  cleanups.push(async () => { await host.close(); await peer.close(); await pty.stop(); });
  const run = async (devices: { name: string; config: ConfigData; properties: PropertyInput[] }[]) => {
    const specs = devices.map((d) => makeDevice({ name: d.name, protocol: 'serial', config: { serialPort: pty.gateway, baudRate: 9600, timeout: 500, ...d.config }, properties: d.properties }));
    const { errors } = await host.apply(specs);
    assert.deepEqual(errors.map((e) => e.format()), []);
    return specs.map((s) => s.id);
  };
  const good = (id: string, property: string) => waitFor(() => sink.readings.find((r) => r.device === id && r.property === property && r.quality === 'good'), `a good ${property} of ${id}`, WAIT);
  return { pty, peer, sink, host, run, good };
}

const modbusCrc = (bytes: Uint8Array) => appendChecksum({ type: 'crc16-modbus' }, bytes);

test('fixed frames with crc16-modbus: two addressed devices on one port, bytes through the codec, and a hex write', async () => {
  const setpoints = new Map<number, number>([[1, 200], [2, 300]]);
  const temps = new Map<number, number>([[1, 215], [2, -42]]);
  let pending = Buffer.alloc(0);
  const asked: number[] = [];
  let busy = false;
  let overlaps = 0;
  const r = await rig((chunk, write) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 6) {
      const req = pending.subarray(0, 6);
      pending = pending.subarray(6);
      const [address, fn] = [req[0]!, req[1]!];
      asked.push(address);
      const answer = Buffer.alloc(5);
      answer[0] = address;
      answer[1] = fn;
      if (fn === 0x04) answer.writeInt16BE(temps.get(address)!, 2);
      if (fn === 0x03) answer.writeInt16BE(setpoints.get(address)!, 2);
      if (fn === 0x06) { setpoints.set(address, req.readInt16BE(2)); answer.writeInt16BE(req.readInt16BE(2), 2); }
      // A half-duplex bus: a request while another is being answered would collide.
      if (busy) overlaps++;
      busy = true;
      setTimeout(() => { busy = false; write(modbusCrc(answer)); }, 5);
    }
  });
  const device = (name: string, address: number) => ({
    name,
    config: { address, framing: { type: 'fixed', length: 7 }, checksum: { type: 'crc16-modbus' } },
    properties: [
      { name: 'temperature', type: 'double' as const, visitor: { command: { hex: '{address} 04 00 00' }, match: '^{address:byte}\\x04', extract: { bytes: { offset: 2, type: 'int16' } }, scale: 0.1 } },
      {
        name: 'setpoint', type: 'int' as const, accessMode: 'ReadWrite' as const,
        visitor: { command: { hex: '{address} 03 00 00' }, match: '^{address:byte}\\x03', extract: { bytes: { offset: 2, type: 'int16' } }, write: { command: { hex: '{address} 06 {value}' }, expect: '^{address:byte}\\x06' } },
      },
    ],
  });
  const [a, b] = await r.run([device('probe-1', 1), device('probe-2', 2)]);
  assert.equal((await r.good(a!, 'temperature')).value, 21.5);
  assert.equal((await r.good(b!, 'temperature')).value, -4.2);
  assert.equal((await r.good(b!, 'setpoint')).value, 300);
  const outcome = await r.host.write(a!, 'setpoint', 250);
  assert.equal(outcome.ok, true, outcome.error?.message);
  assert.equal(outcome.readBack, 250);
  assert.equal(setpoints.get(1), 250);
  assert.equal(setpoints.get(2), 300, 'the other device on the bus is untouched');
  await waitFor(() => asked.filter((a) => a === 1).length >= 20 && asked.filter((a) => a === 2).length >= 20, 'both devices polled', WAIT);
  assert.equal(overlaps, 0, 'requests on one port never overlap');
  const [one, two] = [1, 2].map((a) => asked.filter((x) => x === a).length);
  assert.ok(Math.min(one!, two!) >= Math.max(one!, two!) / 2, `both devices get their turn: ${one} vs ${two} requests`);
});

test('length-field frames with crc16-ccitt, and a float32 through the codec', async () => {
  const r = await rig((chunk, write) => {
    if (chunk[0] !== 0xaa) return;
    const payload = Buffer.alloc(5);
    payload[0] = 0x81;
    payload.writeFloatBE(3.25, 1);
    write(appendChecksum({ type: 'crc16-ccitt' }, Buffer.concat([Buffer.of(0xaa, payload.length), payload])));
  });
  const [id] = await r.run([{
    name: 'flow', config: { framing: { type: 'length', start: { hex: 'aa' }, lengthOffset: 1, lengthCounts: 'following', lengthAdjust: 2 }, checksum: { type: 'crc16-ccitt' } },
    properties: [{ name: 'flow', type: 'double', visitor: { command: { hex: 'aa 01 01' }, extract: { bytes: { offset: 3, type: 'float32' } } } }],
  }]);
  assert.equal((await r.good(id!, 'flow')).value, 3.25);
});

test('markers with an escape byte and sum8, and a JSON answer read by jsonPath', async () => {
  const framing = { type: 'markers' as const, start: '\\x02', end: '\\x03', escape: '\\x10', escapeXor: 0x20 };
  const got: Buffer[] = [];
  const r = await rig((chunk, write) => {
    got.push(chunk);
    const body = Buffer.from(JSON.stringify({ sensor: { humidity: 48.5, label: 'hall' } }));
    write(frameOut(framing, appendChecksum({ type: 'sum8' }, body)));
  });
  const [id] = await r.run([{
    name: 'hygro', config: { framing, checksum: { type: 'sum8' } },
    properties: [
      { name: 'humidity', type: 'double', visitor: { command: 'H?', extract: { jsonPath: '$.sensor.humidity' } } },
      { name: 'label', type: 'string', visitor: { command: 'L?', extract: { jsonPath: "$['sensor'].label" } } },
    ],
  }]);
  assert.equal((await r.good(id!, 'humidity')).value, 48.5);
  assert.equal((await r.good(id!, 'label')).value, 'hall');
  const sent = Buffer.concat(got);
  assert.equal(sent.subarray(0, 4).toString('latin1'), '\x02H?' + String.fromCharCode(checksumBytes({ type: 'sum8' }, Buffer.from('H?'))[0]!), 'commands go out framed, with their checksum');
});

test('delimiter lines with an NMEA-style hex xor checksum, streamed', async () => {
  const sentence = (body: string) => `$${body}*${Buffer.from(checksumBytes({ type: 'xor', encoding: 'hex' }, Buffer.from(body))).toString('latin1')}\r\n`;
  const r = await rig(() => undefined);
  const [id] = await r.run([{
    name: 'wind', config: { framing: { type: 'delimiter', delimiter: '\\r\\n' }, checksum: { type: 'xor', encoding: 'hex', from: 1, to: -3, at: -2 } },
    properties: [
      { name: 'speed', type: 'double', reportCycle: 1, visitor: { stream: '^\\$WIMWV,[0-9.]+,R,([0-9.]+),' } },
      { name: 'angle', type: 'double', visitor: { stream: '^\\$WIMWV,([0-9.]+),' } },
    ],
  }]);
  const timer = setInterval(() => r.peer.write(sentence('WIMWV,270.0,R,12.5,N,A') + '$WIMWV,1,R,99,N,A*00\r\n'), 50);
  cleanups.push(async () => clearInterval(timer));
  assert.equal((await r.good(id!, 'speed')).value, 12.5);
  assert.equal((await r.good(id!, 'angle')).value, 270);
  await waitFor(() => r.sink.readings.filter((x) => x.device === id && x.property === 'speed').length >= 3, 'more streamed readings', WAIT);
  assert.ok(r.sink.readings.every((x) => x.value !== 99), 'a sentence with a bad checksum never becomes a value');
});

test('silence framing: binary frames separated by gaps of at least 50 ms, streamed', async () => {
  const r = await rig(() => undefined);
  const [id] = await r.run([{
    name: 'counter', config: { framing: { type: 'silence', silenceMs: 50 }, checksum: { type: 'crc16-modbus' } },
    properties: [{ name: 'count', type: 'int', visitor: { stream: '^\\x07\\x10', extract: { bytes: { offset: 2, type: 'uint32' } } } }],
  }]);
  let count = 1000;
  const timer = setInterval(() => {
    const frame = Buffer.alloc(6);
    frame.writeUInt16BE(0x0710, 0);
    frame.writeUInt32BE(++count, 2);
    const wire = modbusCrc(frame);
    r.peer.write(wire.subarray(0, 3));
    r.peer.write(wire.subarray(3));
  }, 250);
  cleanups.push(async () => clearInterval(timer));
  const first = await r.good(id!, 'count');
  assert.ok(typeof first.value === 'number' && first.value > 1000);
  await waitFor(() => r.sink.readings.filter((x) => x.device === id && x.quality === 'good').length >= 3, 'three frames', WAIT);
  const values = r.sink.readings.filter((x) => x.device === id && x.quality === 'good').map((x) => x.value as number);
  assert.deepEqual(values, [...values].sort((x, y) => x - y), 'each gap ends exactly one frame, in order');
});

for (const shape of ['one device mixing streamed and polled properties', 'a streaming device and a polled device on one port'] as const) {
  test(`an instrument that streams and answers commands: ${shape}`, async () => {
    let unit = 'kg';
    const r = await rig((chunk, write) => {
      const line = chunk.toString('latin1').trim();
      if (line === 'U?') write(`UNIT ${unit}\r\n`);
      const set = /^U=(\w+)$/.exec(line);
      if (set) { unit = set[1]!; write('OK\r\n'); }
    });
    const config = { framing: { type: 'delimiter', delimiter: '\\r\\n' } };
    const weight = { name: 'weight', type: 'double' as const, reportCycle: 1, visitor: { stream: '^ST,GS,([+-][0-9.]+)kg$' } };
    const unitProp = { name: 'unit', type: 'string' as const, accessMode: 'ReadWrite' as const, visitor: { command: 'U?\\r\\n', match: '^UNIT (\\w+)$', write: { command: 'U={value}\\r\\n', expect: '^OK$' } } };
    const ids = shape.startsWith('one')
      ? await r.run([{ name: 'scale', config, properties: [weight, unitProp] }])
      : await r.run([{ name: 'scale-weight', config, properties: [weight] }, { name: 'scale-settings', config, properties: [unitProp] }]);
    const [stream, polled] = [ids[0]!, ids.at(-1)!];
    const timer = setInterval(() => r.peer.write('ST,GS,+0001.500kg\r\n'), 20);
    cleanups.push(async () => clearInterval(timer));
    assert.equal((await r.good(stream, 'weight')).value, 1.5);
    assert.equal((await r.good(polled, 'unit')).value, 'kg');
    const outcome = await r.host.write(polled, 'unit', 'lb');
    assert.equal(outcome.ok, true, outcome.error?.message);
    assert.equal(outcome.readBack, 'lb');
    const mark = r.sink.readings.length;
    await waitFor(() => r.sink.readings.slice(mark).filter((x) => x.device === stream && x.property === 'weight' && x.quality === 'good').length >= 5, 'the stream to go on', WAIT);
    assert.ok(r.sink.readings.filter((x) => x.property === 'unit').every((x) => x.quality === 'good'), 'streamed lines are never taken for answers');
  });
}
