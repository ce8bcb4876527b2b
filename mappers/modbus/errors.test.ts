// Exception codes, timeouts, malformed frames and CRC errors become bad readings with stable
// codes, are counted, and never stop the good properties; exception 02 on a merged read splits it.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { silentLogger } from '../../core/log.ts';
import { codedError, MapperHost, type SerialLink } from '../sdk/index.ts';
import { makeDevice, RecordingSink, waitFor } from '../sdk/testing.ts';
import { modbusLoader } from './index.ts';
import { ModbusException, parseResponse, readRequest } from './pdu.ts';
import { crc16, rtuFrame, RtuTransport } from './rtu.ts';
import { ScriptedServer, type Answer } from './testing/scripted-server.ts';

const FAULTS: Record<number, Answer> = {
  100: { exception: 1 }, 101: { exception: 3 }, 102: { exception: 4 }, 103: { exception: 6 }, 104: { exception: 0x0b },
  105: { silent: true }, 106: { short: true },
};
const EXPECTED_CODES: Record<number, string> = {
  100: 'MODBUS_EXCEPTION_1', 101: 'MODBUS_EXCEPTION_3', 102: 'MODBUS_EXCEPTION_4', 103: 'MODBUS_EXCEPTION_6', 104: 'MODBUS_EXCEPTION_11',
  105: 'ETIMEDOUT', 106: 'MODBUS_SHORT_FRAME',
};

let server: ScriptedServer;
before(async () => {
  server = new ScriptedServer((_unit, a) => (a === 0 || a === 1 || a === 5 ? { value: 1000 + a } : FAULTS[a]));
  await server.listen();
});
after(() => server.close());

test('error answers become bad readings with stable codes, counted, while good properties keep reading', async () => {
  const sink = new RecordingSink();
  const host = new MapperHost({ sink, drivers: [modbusLoader], log: silentLogger, dataDir: '.' });
  try {
    const config = { ip: '127.0.0.1', port: server.port, slaveID: 1, timeout: 300, coalesce: false };
    const faulty = makeDevice({ name: 'faulty', protocol: 'modbus', config, properties: Object.keys(FAULTS).map((a) => ({ name: `r${a}`, type: 'int', visitor: { register: 'HoldingRegister', offset: Number(a) } })) });
    const good = makeDevice({ name: 'good', protocol: 'modbus', config: { ...config, coalesce: true }, properties: [{ name: 'r0', type: 'int', visitor: { register: 'HoldingRegister', offset: 0 } }] });
    await host.apply([faulty, good]);
    for (const [address, code] of Object.entries(EXPECTED_CODES)) {
      const r = await waitFor(() => sink.readings.find((x) => x.device === faulty.id && x.property === `r${address}` && x.quality === 'bad' && x.error?.code !== 'ENOTCONN'), `a bad reading of r${address}`);
      assert.equal(r.error?.code, code, `r${address}: ${r.error?.message}`);
      assert.ok(r.error!.message.length > 10, 'a message a person can read');
    }
    // The good device on the same connection read all along and never went bad or offline.
    assert.ok(sink.readings.some((x) => x.device === good.id && x.quality === 'good' && x.value === 1000));
    assert.deepEqual(sink.readings.filter((x) => x.device === good.id && x.quality === 'bad'), []);
    assert.deepEqual(sink.states.filter((s) => s.device === good.id).map((s) => s.state), ['unknown', 'online']);
    const counted = (await host.metrics.readErrors.get()).values.filter((v) => v.labels.device === faulty.id).map((v) => v.labels.code);
    for (const code of Object.values(EXPECTED_CODES)) assert.ok(counted.includes(code), `${code} is counted (counted: ${counted.join(', ')})`);
  } finally {
    await host.close();
  }
});

test('exception 02 on a merged read splits it once and remembers the split', async () => {
  const sink = new RecordingSink();
  const host = new MapperHost({ sink, drivers: [modbusLoader], log: silentLogger, dataDir: '.' });
  try {
    // Registers 2 to 4 are not mapped: the merged read 0..5 fails, 0..1 and 5 succeed.
    const d = makeDevice({ name: 'gappy', protocol: 'modbus', config: { ip: '127.0.0.1', port: server.port, slaveID: 7 },
      properties: [0, 1, 5].map((a) => ({ name: `r${a}`, type: 'int', collectCycle: 50, visitor: { register: 'HoldingRegister', offset: a } })) });
    const start = server.log.length;
    await host.apply([d]);
    for (const a of [0, 1, 5]) {
      const r = await waitFor(() => sink.readings.find((x) => x.property === `r${a}` && x.quality !== 'bad'), `a good reading of r${a}`);
      assert.equal(r.value, 1000 + a);
    }
    await waitFor(() => server.log.slice(start).filter((x) => x.unit === 7 && x.address === 5).length >= 5, 'several cycles');
    const asked = server.log.slice(start).filter((x) => x.unit === 7).map((x) => `${x.address}+${x.count}`);
    assert.equal(asked.filter((x) => x === '0+6').length, 1, `the merged read is asked once: ${asked.join(' ')}`);
    assert.ok(asked.filter((x) => x === '0+2').length >= 5 && !asked.some((x) => x === '0+1' || x === '1+1'), `then 0+2 and 5+1 every cycle: ${asked.join(' ')}`);
  } finally {
    await host.close();
  }
});

/** A serial link whose port answers each request with `respond(frame)`. */
function fakeBus(respond: (frame: Buffer) => Buffer | undefined): SerialLink {
  const port = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, done) {
      const answer = respond(chunk);
      if (answer) setTimeout(() => port.push(answer), 1);
      done();
    },
  });
  let tail: Promise<unknown> = Promise.resolve();
  const link = {
    key: 'serial:/dev/fake', port, isOpen: true, closed: new Promise<Error>(() => undefined),
    settings: { path: '/dev/fake', baudRate: 115200, dataBits: 8 as const, stopBits: 1 as const, parity: 'none' as const, rs485: false },
    exclusive<T>(fn: (p: Duplex) => Promise<T>): Promise<T> { const run = tail.then(() => fn(port)); tail = run.catch(() => undefined); return run; },
  };
  return link;
}

test('RTU: CRC errors, short frames, answers from another unit and exceptions are told apart', async () => {
  const good = (unit: number) => Buffer.from(rtuFrame(unit, Uint8Array.from([3, 2, 0x12, 0x34])));
  const cases: [string, (f: Buffer) => Buffer | undefined, string][] = [
    ['good', (f) => good(f[0]!), ''],
    ['crc', (f) => { const b = good(f[0]!); b[b.length - 1]! ^= 0xff; return b; }, 'MODBUS_CRC'],
    ['short', (f) => good(f[0]!).subarray(0, 4), 'MODBUS_SHORT_FRAME'],
    ['other unit', () => good(9), 'MODBUS_BAD_RESPONSE'],
    ['exception', (f) => Buffer.from(rtuFrame(f[0]!, Uint8Array.from([0x83, 4]))), 'MODBUS_EXCEPTION_4'],
    ['silence', () => undefined, 'ETIMEDOUT'],
  ];
  for (const [name, respond, code] of cases) {
    const sent: Buffer[] = [];
    const t = new RtuTransport(fakeBus((f) => { sent.push(Buffer.from(f)); return respond(f); }), async () => undefined);
    const req = readRequest(3, 0, 1);
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(codedError('ETIMEDOUT', 'no answer within 300 ms')), 300);
    const outcome = await t.request(1, req, deadline.signal).then((pdu) => parseResponse(req, pdu)).catch((err: unknown) => err);
    clearTimeout(timer);
    await t.close();
    const frame = sent[0]!;
    assert.equal(crc16(frame, frame.length - 2), frame.readUInt16LE(frame.length - 2), 'the request carries a valid CRC');
    if (!code) assert.deepEqual([...(outcome as Uint8Array)], [0x12, 0x34], name);
    else assert.equal((outcome as { code?: string }).code, code, `${name}: ${String(outcome)}`);
    if (name === 'exception') assert.ok(outcome instanceof ModbusException);
  }
});
