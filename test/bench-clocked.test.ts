// bench/gateway judges every value by the simulator's clocked block: if the block did not move at
// every read, or its values did not follow the formula the subscriber checks, the benchmark's
// "0 wrong" would mean nothing. This reads the block through a real Modbus client.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from '../core/testing.ts';
import { CLOCKED_PROPERTIES, CLOCKED_REGISTERS, clockTime, expectedOf } from '../bench/modbus/clocked.ts';

interface Client {
  connectTCP(host: string, opts: { port: number }): Promise<void>;
  setID(unit: number): void;
  setTimeout(ms: number): void;
  readHoldingRegisters(address: number, count: number): Promise<{ data: number[] }>;
  close(cb: () => void): void;
}

const once = (child: ReturnType<typeof fork>, key: string) => new Promise<void>((resolve) => {
  const on = (m: Record<string, unknown>) => { if (m[key] !== undefined) { child.off('message', on); resolve(); } };
  child.on('message', on);
});

describe('the bench simulator in clocked mode', () => {
  it('changes a device block at every read: a newer counter and clock, every value on the formula', async () => {
    const port = await freePort();
    const sim = fork(join(import.meta.dirname, '..', 'bench', 'modbus', 'simulator.ts'), [String(port)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const ModbusRTU = (await import('modbus-serial')).default as unknown as new () => Client;
    const client = new ModbusRTU();
    try {
      await once(sim, 'ready');
      const clocked = once(sim, 'clocked');
      sim.send({ clocked: true });
      await clocked;
      await client.connectTCP('127.0.0.1', { port });
      client.setTimeout(5000);
      client.setID(3);
      const word32 = (d: number[], a: number) => d[a]! * 0x10000 + d[a + 1]!;
      let lastCounter = 0;
      for (let i = 0; i < 3; i++) {
        const before = Date.now();
        const { data } = await client.readHoldingRegisters(0, CLOCKED_REGISTERS);
        const after = Date.now();
        const counter = word32(data, 2);
        assert.ok(counter > lastCounter, `read ${i}: counter ${counter} after ${lastCounter}`);
        lastCounter = counter;
        const clock = clockTime(word32(data, 0), after);
        assert.ok(clock >= before && clock <= after, `read ${i}: clock ${clock} outside the read (${before}..${after})`);
        for (const p of CLOCKED_PROPERTIES.slice(2)) {
          const w = data[p.address]!;
          assert.equal(p.dataType === 'int16' && w >= 0x8000 ? w - 0x10000 : w, expectedOf(3, counter, p), `${p.name} at counter ${counter}`);
        }
      }
      // A value of one counter is wrong for the next: stale values cannot pass the check.
      const p = CLOCKED_PROPERTIES[2]!;
      assert.notEqual(expectedOf(3, lastCounter, p), expectedOf(3, lastCounter + 1, p));
    } finally {
      await new Promise<void>((r) => client.close(() => r()));
      sim.kill();
    }
  });
});
