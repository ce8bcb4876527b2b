// The README's walk, run: start the simulated PLC, run the gateway on the example's YAML, read
// values in the twin, write a setpoint and see it applied.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, startGatewayProcess, type GatewayProcess } from '../../test/helpers/gateway-process.ts';
import { freePort } from '../../core/testing.ts';
import { waitFor } from '../../core/testing.ts';

interface TwinJson {
  state: string;
  properties: Record<string, { reported?: { value?: unknown; quality: string }; reconcile?: { state: string } }>;
}

/** mbpoll, an independent Modbus master, reading `count` items of a table (0 coils, 4 holding) from PDU address 0. */
function mbpoll(port: number, table: 0 | 4, count: number): number[] {
  const r = spawnSync('mbpoll', ['-m', 'tcp', '-a', '1', '-t', String(table), '-r', '1', '-c', String(count), '-1', '-p', String(port), '127.0.0.1'], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 0, `mbpoll failed: ${r.stderr}${r.stdout}`);
  return [...r.stdout.matchAll(/^\[(\d+)\]:\s+(-?\d+)/gm)].map((m) => Number(m[2]));
}
const hasMbpoll = spawnSync('mbpoll', ['-V']).error === undefined;

describe('examples/factory-plc', () => {
  let plc: ChildProcess;
  let gw: GatewayProcess;
  let port: number;
  before(async () => {
    port = await freePort();
    plc = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'plc.ts'), '--port', String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => plc.stdout!.once('data', () => resolve()));
    const dir = mkdtempSync(join(tmpdir(), 'edgetwin-factory-'));
    writeFileSync(join(dir, 'factory-plc.yaml'), readFileSync(join(import.meta.dirname, 'factory-plc.yaml'), 'utf8').replace('port: "5020"', `port: "${port}"`));
    gw = await startGatewayProcess({ devices: [dir] });
  });
  after(async () => {
    await gw?.stop();
    plc?.kill();
  });

  const twin = async (): Promise<TwinJson> => {
    const r = await cli(['twin', 'get', 'default/factory-plc', '--json', '--api-url', gw.apiUrl]);
    return JSON.parse(r.stdout) as TwinJson;
  };

  it('reads every property of the PLC into the twin', async () => {
    const t = await waitFor('every property to read good', async () => {
      const t = await twin();
      return Object.values(t.properties).length === 9 && Object.values(t.properties).every((p) => p.reported?.quality === 'good') ? t : undefined;
    });
    assert.equal(t.state, 'online');
    assert.equal(t.properties.name!.reported!.value, 'PLC-FAC1');
    assert.equal(t.properties.setpoint!.reported!.value, 65);
    assert.equal(t.properties.motor!.reported!.value, true);
    const level = Number(t.properties.level!.reported!.value);
    assert.ok(level >= 0 && level <= 100, `level ${level} is a percentage`);
  });

  it('writes a setpoint and a coil, and shows them applied', async () => {
    for (const [prop, value] of [['setpoint', 72.5], ['motor', false]] as const) {
      const set = await cli(['twin', 'set', 'default/factory-plc', `${prop}=${value}`, '--api-url', gw.apiUrl]);
      assert.equal(set.code, 0, set.stderr);
      await waitFor(`${prop} applied`, async () => {
        const p = (await twin()).properties[prop]!;
        return p.reported?.value === value && p.reconcile?.state === 'applied';
      });
    }
  });

  it('what the twin shows is what an independent Modbus master reads from the PLC', { skip: !hasMbpoll && 'mbpoll is not installed (apt-get install mbpoll)' }, () => {
    // After the writes above: setpoint 72.5 at scale 0.1 is 725 in holding register 0; the motor coil is off.
    const holding = mbpoll(port, 4, 9);
    assert.equal(holding[0], 725, 'the setpoint edgetwin wrote is in the PLC');
    // "PLC-FAC1", two characters a register, as edgetwin decoded it into the twin.
    assert.deepEqual(holding.slice(5, 9), [0x504c, 0x432d, 0x4641, 0x4331]);
    assert.equal(mbpoll(port, 0, 2)[0], 0, 'the motor coil edgetwin switched off is off');
  });
});
