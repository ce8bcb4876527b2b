// The Modbus mapper against a real PLC (Modbus TCP) and a real RTU adapter. Opt-in:
//   EDGETWIN_MODBUS_TCP=tcp://192.168.1.50:502   a PLC or TCP gateway
//   EDGETWIN_MODBUS_TCP_UNIT=1                   its unit id (default 1)
//   EDGETWIN_MODBUS_TCP_ADDRESS=0                a readable holding register (default 0)
//   EDGETWIN_MODBUS_TCP_WRITE=1                  also write that register (read first, then restored)
//   EDGETWIN_MODBUS_RTU=/dev/ttyUSB0             an RS-485 adapter with a slave on the bus
//   EDGETWIN_MODBUS_RTU_BAUD=9600  EDGETWIN_MODBUS_RTU_PARITY=even  EDGETWIN_MODBUS_RTU_UNIT=1
//   EDGETWIN_MODBUS_RTU_ADDRESS=0  EDGETWIN_MODBUS_RTU_WRITE=1
// Without them each suite is skipped with the reason.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../core/log.ts';
import type { ConfigData } from '../core/model/types.ts';
import { MapperHost } from '../mappers/sdk/index.ts';
import { makeDevice, RecordingSink, waitFor } from '../mappers/sdk/testing.ts';
import { modbusLoader } from '../mappers/modbus/index.ts';
import { probe } from '../mappers/modbus/probe.ts';

const env = process.env;

function suite(kind: 'TCP' | 'RTU', target: string | undefined, config: () => ConfigData, probeTarget: () => string) {
  const unit = Number(env[`EDGETWIN_MODBUS_${kind}_UNIT`] ?? 1);
  const address = Number(env[`EDGETWIN_MODBUS_${kind}_ADDRESS`] ?? 0);
  const writes = env[`EDGETWIN_MODBUS_${kind}_WRITE`] === '1';
  const baud = Number(env.EDGETWIN_MODBUS_RTU_BAUD ?? 19200);
  const parity = (env.EDGETWIN_MODBUS_RTU_PARITY ?? 'even') as 'none' | 'even' | 'odd';
  const skip = target ? false : `set EDGETWIN_MODBUS_${kind} to run against a real ${kind === 'TCP' ? 'PLC (tcp://host:port)' : 'RTU adapter (/dev/ttyUSB0)'}`;

  describe(`Modbus ${kind} on real hardware`, { skip }, () => {
    it('probe reads the register and prints its interpretations', async () => {
      const r = await probe({ target: probeTarget(), unit, table: 'holding', address, count: 2, timeoutMs: 2000, baudRate: baud, parity });
      assert.equal(r.raw.length, 2);
      assert.ok(r.interpretations.some((x) => x.type === 'float32' && x.order === 'CDAB'));
    });

    it('the gateway runtime reads the register, and writes and restores it when allowed', async () => {
      const sink = new RecordingSink();
      const host = new MapperHost({ sink, drivers: [modbusLoader], log: silentLogger, dataDir: '.' });
      try {
        const d = makeDevice({ name: `real-${kind.toLowerCase()}`, protocol: 'modbus', config: { ...config(), slaveID: unit, timeout: 2000 },
          properties: [{ name: 'word', type: 'int', accessMode: 'ReadWrite', collectCycle: 500, visitor: { register: 'HoldingRegister', offset: address, dataType: 'uint16' } }] });
        const { errors } = await host.apply([d]);
        assert.deepEqual(errors.map((e) => e.format()), []);
        const first = await waitFor(() => sink.readings.find((r) => r.property === 'word' && r.error?.code !== 'ENOTCONN'), 'a reading', 20_000);
        assert.equal(first.quality, 'good', `${first.error?.code} ${first.error?.message}`);
        if (!writes) return;
        const original = Number(first.value);
        const changed = original === 0xffff ? original - 1 : original + 1;
        const outcome = await host.write(d.id, 'word', changed);
        assert.equal(outcome.ok, true, outcome.error?.message);
        assert.equal(outcome.readBack, changed);
        assert.equal((await host.write(d.id, 'word', original)).readBack, original);
      } finally {
        await host.close();
      }
    });
  });
}

suite('TCP', env.EDGETWIN_MODBUS_TCP, () => {
  const url = new URL(env.EDGETWIN_MODBUS_TCP!);
  return { communicateMode: 'TCP', ip: url.hostname, port: Number(url.port || 502) };
}, () => env.EDGETWIN_MODBUS_TCP!);

suite('RTU', env.EDGETWIN_MODBUS_RTU, () => ({
  communicateMode: 'RTU', serialName: env.EDGETWIN_MODBUS_RTU!, baudRate: Number(env.EDGETWIN_MODBUS_RTU_BAUD ?? 19200),
  parity: env.EDGETWIN_MODBUS_RTU_PARITY ?? 'even', dataBits: 8, stopBits: 1,
}), () => env.EDGETWIN_MODBUS_RTU!);
