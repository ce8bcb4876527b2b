// Faults a serial line really has: garbage, partial frames, bad checksums, a device that stops
// answering, and the port itself vanishing (socat killed, as a USB adapter unplugged) and returning.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../core/log.ts';
import type { Reading } from '../core/reading.ts';
import { MapperHost } from '../mappers/sdk/index.ts';
import { makeDevice, RecordingSink, waitFor } from '../mappers/sdk/testing.ts';
import { serialLoader } from '../mappers/serial/index.ts';
import { checksumBytes } from '../mappers/serial/checksum.ts';
import { PtyPair } from '../examples/serial-instruments/pty.ts';
import { InstrumentPort, Scale, ScpiMeter } from '../examples/serial-instruments/instruments.ts';

const WAIT = 20_000;
let dir: string;
let n = 0;
const cleanups: (() => Promise<void>)[] = [];

before(() => { dir = mkdtempSync(join(tmpdir(), 'edgetwin-serial-faults-')); });
after(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

function hostFor() {
  const sink = new RecordingSink();
  const host = new MapperHost({ sink, drivers: [serialLoader], log: silentLogger, dataDir: dir, backoff: { initialMs: 50, maxMs: 500 } });
  cleanups.push(() => host.close());
  return { sink, host };
}

function pair() {
  const pty = new PtyPair(join(dir, `g${++n}`), join(dir, `i${n}`));
  cleanups.push(() => pty.stop());
  return pty;
}

const readingsOf = (sink: RecordingSink, id: string, property: string, since = 0): Reading[] =>
  sink.readings.slice(since).filter((r) => r.device === id && r.property === property);

/** A scale streaming every 50 ms on a fresh pty pair, and a gateway host running `name` on it. */
async function streamingScale(name: string, properties: Parameters<typeof makeDevice>[0]['properties']) {
  const pty = pair();
  await pty.start();
  const scale = new Scale();
  await scale.start(pty.instrument, 50);
  cleanups.push(() => scale.stop());
  const { sink, host } = hostFor();
  const device = makeDevice({
    name, protocol: 'serial',
    config: { serialPort: pty.gateway, baudRate: 9600, framing: { type: 'delimiter', delimiter: '\\r\\n' }, streamTimeout: 400 },
    properties,
  });
  await host.apply([device]);
  return { scale, sink, host, device };
}

test('a streaming scale: garbage, noise and partial lines never become values, and silence turns readings bad', async () => {
  const { scale, sink, host, device } = await streamingScale('scale', [
    { name: 'weight', type: 'double', reportCycle: 1, visitor: { stream: '^(?:ST|US),GS,([+-][0-9.]+)kg$' } },
    { name: 'status', type: 'string', reportCycle: 1, visitor: { stream: '^(ST|US),GS,' } },
  ]);
  await waitFor(() => readingsOf(sink, device.id, 'weight').find((r) => r.quality === 'good'), 'a good weight', WAIT);
  const mark = sink.readings.length;
  for (let i = 0; i < 5; i++) {
    scale.port.write('%%garbage 99.999kg\r\n');
    scale.port.write(Buffer.from([0xff, 0x00, 0x13, 0x80, 0x0d, 0x0a]));
    scale.port.write('ST,GS,+00');
  }
  scale.port.write('\r\n');
  await waitFor(() => readingsOf(sink, device.id, 'weight', mark).filter((r) => r.quality === 'good').length >= 5, 'good weights after the garbage', WAIT);
  const after = readingsOf(sink, device.id, 'weight', mark);
  assert.ok(after.every((r) => r.quality === 'good' && r.value === 12.345), `every weight is the scale's: ${JSON.stringify(after.filter((r) => r.value !== 12.345))}`);
  assert.equal(readingsOf(sink, device.id, 'status').at(-1)?.value, 'ST');

  scale.weight = -0.5;
  scale.stable = false;
  await waitFor(() => readingsOf(sink, device.id, 'weight').find((r) => r.value === -0.5), 'the new weight', WAIT);
  await waitFor(() => readingsOf(sink, device.id, 'status').find((r) => r.value === 'US'), 'unstable status', WAIT);

  await scale.stop();
  const silent = await waitFor(() => readingsOf(sink, device.id, 'weight').find((r) => r.quality === 'bad' && r.error?.code === 'ETIMEDOUT'), 'a bad reading once the scale falls silent', WAIT);
  assert.match(silent.error!.message, /no data from the instrument for 400 ms/);
  await host.close();
});

test('a stream pattern that fits none of the lines is reported as such, not as plain silence', async () => {
  const { sink, host, device } = await streamingScale('scale-typo', [{ name: 'weight', type: 'double', visitor: { stream: '^ST,NET,([+-][0-9.]+)kg$' } }]);
  const r = await waitFor(() => readingsOf(sink, device.id, 'weight').find((x) => x.error?.code === 'ETIMEDOUT'), 'a bad reading', WAIT);
  assert.match(r.error!.message, /no data from the instrument for 400 ms; \d+ frames matched no stream pattern, last "(ST|US),GS,\+0012\.345kg"/);
  await host.close();
});

test('request/response faults: no answer, a partial answer, a bad checksum, an unexpected answer; then recovery', async () => {
  const pty = pair();
  await pty.start();
  let mode: 'answer' | 'silent' | 'partial' | 'badsum' | 'other' = 'answer';
  const line = (body: string) => `${body}*${Buffer.from(checksumBytes({ type: 'xor', encoding: 'hex' }, Buffer.from(body))).toString('latin1')}\n`;
  const peer = new InstrumentPort();
  const received: Buffer[] = [];
  await peer.open(pty.instrument, (chunk, write) => {
    received.push(chunk);
    if (mode === 'answer') write(line('V=12.50'));
    if (mode === 'partial') write('V=12.');
    if (mode === 'badsum') write('V=99.00*00\n');
    if (mode === 'other') write(line('HELLO'));
  });
  cleanups.push(() => peer.close());
  const { sink, host } = hostFor();
  const device = makeDevice({
    name: 'meter', protocol: 'serial',
    config: { serialPort: pty.gateway, baudRate: 9600, timeout: 300, framing: { type: 'delimiter', delimiter: '\\n' }, checksum: { type: 'xor', encoding: 'hex', to: -3, at: -2 } },
    properties: [{ name: 'voltage', type: 'double', collectCycle: 100, visitor: { command: 'V?\\n', extract: { regex: '^V=([0-9.]+)\\*$' } } }],
  });
  await host.apply([device]);
  const expectBad = async (code: string, message: RegExp) => {
    const mark = sink.readings.length;
    const r = await waitFor(() => readingsOf(sink, device.id, 'voltage', mark).find((x) => x.quality === 'bad' && x.error?.code === code), `a ${code} reading`, WAIT);
    assert.match(r.error!.message, message);
    assert.equal(r.value, undefined, 'no stale value is passed off as current');
  };
  await waitFor(() => readingsOf(sink, device.id, 'voltage').find((r) => r.quality === 'good' && r.value === 12.5), 'a good voltage', WAIT);

  mode = 'silent';
  await expectBad('ETIMEDOUT', /no answer to voltage within 300 ms \(is the instrument connected, powered and set to 9600 baud\?\)/);
  await waitFor(() => sink.lastState(device.id) === 'unhealthy', 'the device to turn unhealthy', WAIT);
  mode = 'partial';
  await expectBad('EPARTIAL', /answer to voltage incomplete after 300 ms: \d+ bytes arrived without the end of a frame/);
  mode = 'badsum';
  await expectBad('EBADFRAME', /no valid answer to voltage within 300 ms: \d+ frames? dropped \(xor checksum mismatch/);
  // The drops are a metric too, for the device that saw them.
  const dropped = (await host.metrics.driverEvents.get()).values.find((v) => v.labels.device === device.id && v.labels.event === 'frames_dropped');
  assert.ok((dropped?.value ?? 0) >= 1, `edgetwin_mapper_driver_events_total{event="frames_dropped"}: ${JSON.stringify(dropped)}`);
  mode = 'other';
  await expectBad('EFORMAT', /1 frame did not match, last "HELLO\*"/);
  mode = 'answer';
  await waitFor(() => sink.lastState(device.id) === 'online', 'the device to come back online', WAIT);
  assert.ok(readingsOf(sink, device.id, 'voltage').every((r) => r.quality === 'bad' || r.value === 12.5), 'the bad checksum\'s 99.00 never became a value');
  assert.match(Buffer.concat(received).toString('latin1'), /^(V\?69\n)+$/, 'commands carry their xor (hex) before the delimiter, which is sent once');
  await host.close();
});

test('the port vanishes (socat killed): devices go offline, and come back when the port returns', async () => {
  const pty = pair();
  const meter = new ScpiMeter();
  await pty.start();
  await meter.start(pty.instrument);
  const { sink, host } = hostFor();
  const props = [{ name: 'voltage', type: 'double' as const, collectCycle: 100, visitor: { command: 'MEAS:VOLT?\\n' } }];
  const config = { serialPort: pty.gateway, baudRate: 9600, timeout: 300, framing: { type: 'delimiter', delimiter: '\\n' }, errorPattern: '^ERR' };
  const a = makeDevice({ name: 'meter-a', protocol: 'serial', config, properties: props });
  const b = makeDevice({ name: 'meter-b', protocol: 'serial', config, properties: props });
  await host.apply([a, b]);
  for (const d of [a, b]) await waitFor(() => readingsOf(sink, d.id, 'voltage').find((r) => r.quality === 'good'), `a good voltage of ${d.id}`, WAIT);

  await meter.stop();
  await pty.stop();
  for (const d of [a, b]) {
    await waitFor(() => sink.lastState(d.id) === 'offline', `${d.id} to go offline`, WAIT);
    const reason = sink.states.filter((s) => s.device === d.id && s.state === 'offline').at(-1)!.reason!;
    assert.match(reason, new RegExp(`serial port ${pty.gateway.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), reason);
  }
  const mark = sink.readings.length;
  meter.volts = 7.25;
  await pty.start();
  await meter.start(pty.instrument);
  for (const d of [a, b]) {
    await waitFor(() => sink.lastState(d.id) === 'online', `${d.id} to come back online`, WAIT);
    await waitFor(() => readingsOf(sink, d.id, 'voltage', mark).find((r) => r.quality === 'good' && r.value === 7.25), `a fresh voltage of ${d.id}`, WAIT);
  }
  await host.close();
  await meter.stop();
});
