// The README's walk, run: start the simulated scale and meter behind socat pty pairs, run the
// gateway on the example's YAML, read both into the twin, set the meter's range, pull the plug.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, startGatewayProcess, type GatewayProcess } from '../../test/helpers/gateway-process.ts';
import { waitFor } from '../../core/testing.ts';

interface TwinJson {
  state: string;
  properties: Record<string, { reported?: { value?: unknown; quality: string; error?: { code: string; message: string } }; reconcile?: { state: string; reason?: string } }>;
}

describe('examples/serial-instruments', () => {
  let sim: ChildProcess | undefined;
  let gw: GatewayProcess | undefined;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgetwin-serial-example-'));
    sim = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'simulate.ts'), '--dir', dir, '--period', '100'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => sim!.stdout!.once('data', () => resolve()));
    const yaml = readFileSync(join(import.meta.dirname, 'instruments.yaml'), 'utf8').replaceAll('/tmp/edgetwin-serial', dir);
    writeFileSync(join(dir, 'instruments.yaml'), yaml);
    gw = await startGatewayProcess({ devices: [join(dir, 'instruments.yaml')] });
  });
  after(async () => {
    await gw?.stop();
    if (sim && sim.exitCode === null) {
      const exited = new Promise((resolve) => sim!.once('exit', resolve));
      sim.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const twin = async (id: string): Promise<TwinJson> => {
    const r = await cli(['twin', 'get', id, '--json', '--api-url', gw!.apiUrl]);
    return JSON.parse(r.stdout) as TwinJson;
  };
  const allGood = (id: string, count: number) => waitFor(`every property of ${id} to read good`, async () => {
    const t = await twin(id);
    const props = Object.values(t.properties);
    return props.length === count && props.every((p) => p.reported?.quality === 'good') ? t : undefined;
  });

  it('streams the scale\'s weight into the twin', async () => {
    const t = await allGood('default/bench-scale', 2);
    assert.equal(t.state, 'online');
    const weight = Number(t.properties.weight!.reported!.value);
    assert.ok(weight > 11 && weight < 13, `weight ${weight} kg`);
    assert.match(String(t.properties.stable!.reported!.value), /^(ST|US)$/);
  });

  it('polls the meter and sets its range, confirmed by *OPC?', async () => {
    const t = await allGood('default/scpi-meter', 3);
    assert.equal(t.properties.identity!.reported!.value, 'EDGETWIN,DMM-1,0001,1.0');
    assert.equal(t.properties.range!.reported!.value, 10);
    const set = await cli(['twin', 'set', 'default/scpi-meter', 'range=100', '--api-url', gw!.apiUrl]);
    assert.equal(set.code, 0, set.stderr);
    await waitFor('range applied', async () => {
      const p = (await twin('default/scpi-meter')).properties.range!;
      return p.reported?.value === 100 && p.reconcile?.state === 'applied';
    });
  });

  it('refuses a range the meter rejects, with the meter\'s own message', async () => {
    await cli(['twin', 'set', 'default/scpi-meter', 'range=7', '--api-url', gw!.apiUrl]);
    const p = await waitFor('the write to fail', async () => {
      const p = (await twin('default/scpi-meter')).properties.range!;
      return p.reconcile?.state === 'failed' ? p : undefined;
    });
    assert.match(p.reconcile!.reason ?? '', /the instrument answered: ERR -222,"Data out of range"/);
  });

  it('goes offline when the instruments are unplugged', async () => {
    const exited = new Promise((resolve) => sim!.once('exit', resolve));
    sim!.kill('SIGTERM');
    await exited;
    for (const id of ['default/bench-scale', 'default/scpi-meter']) {
      await waitFor(`${id} offline`, async () => ((await twin(id)).state === 'offline' ? true : undefined));
    }
  });
});
