// `edgetwin modbus probe` as a user runs it: a display reads 229.0 V, the probe names float32 CDAB.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cli } from './helpers/gateway-process.ts';
import { wireWords } from '../mappers/modbus/testing/fixture.ts';
import { socatPair, startModbusSerialServer, startPymodbus, type PymodbusServer } from '../mappers/modbus/testing/peers.ts';

describe('edgetwin modbus probe', () => {
  let server: Awaited<ReturnType<typeof startModbusSerialServer>>;
  const [hi, lo] = wireWords('float32', 229, 'CDAB') as [number, number];
  before(async () => {
    server = await startModbusSerialServer({ 1: { hr: { 40: hi, 41: lo }, co: { 0: 1, 1: 0, 2: 1 }, ir: {}, di: {} } });
  });
  after(() => server.stop());

  it('names the type and order that show a known value (--json)', async () => {
    const r = await cli(['modbus', 'probe', `tcp://127.0.0.1:${server.port}`, '--unit', '1', '--table', 'holding', '--address', '40', '--count', '2', '--expect', '229.0', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { raw: number[]; matches: { type: string; order?: string; address: number }[]; interpretations: unknown[] };
    assert.deepEqual(out.raw, [hi, lo]);
    assert.deepEqual(out.matches.map((m) => `${m.type} ${m.order} ${m.address}`), ['float32 CDAB 40']);
    assert.equal(out.interpretations.length, 2 * 2 + 3 * 4 + 1, 'int16 and uint16 per register, int32/uint32/float32 in four orders, string');
  });

  it('prints a table and the match for people', async () => {
    const r = await cli(['modbus', 'probe', `tcp://127.0.0.1:${server.port}`, '--address', '40', '--count', '2', '--expect', '229']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /float32\s+CDAB\s+229\s+<- match/);
    assert.match(r.stdout, /229 is: float32 CDAB at 40/);
  });

  it('reads coils as bits', async () => {
    const r = await cli(['modbus', 'probe', `tcp://127.0.0.1:${server.port}`, '--table', 'coil', '--address', '0', '--count', '3', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as { raw: number[] }).raw, [1, 0, 1]);
  });

  it('says what the device refused, with exit code 1', async () => {
    const r = await cli(['modbus', 'probe', `tcp://127.0.0.1:${server.port}`, '--address', '900', '--count', '1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /exception 2 .*illegal data address/);
  });

  describe('on a serial line (pymodbus RTU slave on a socat pty pair)', () => {
    let pty: Awaited<ReturnType<typeof socatPair>>;
    let slave: PymodbusServer;
    before(async () => {
      pty = await socatPair();
      slave = await startPymodbus({ rtu: pty.b, baud: 19200 }, { 3: { hr: { 0: 2290 } } });
    });
    after(async () => {
      await slave?.stop();
      await pty?.stop();
    });
    it('finds a scaled value', async () => {
      const r = await cli(['modbus', 'probe', pty.a, '--unit', '3', '--count', '1', '--baud', '19200', '--parity', 'none', '--expect', '229.0', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { matches: { type: string; match: number }[] };
      assert.deepEqual(out.matches.map((m) => `${m.type} ${m.match}`), ['int16 0.1', 'uint16 0.1']);
    });
  });
});
