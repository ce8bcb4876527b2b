// The CLI end to end, as a user runs it: spawn `edgetwin run` on the quick start, set a setpoint
// with `edgetwin twin set`, see it applied in `edgetwin twin get`.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, ROOT, startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.ts';
import { waitFor } from '../core/testing.ts';

interface TwinJson {
  device: string;
  state: string;
  properties: Record<string, { desired?: { value: unknown }; reported?: { value?: unknown; quality: string }; reconcile: { state: string } }>;
}

describe('edgetwin CLI end to end on the quick start', () => {
  let gw: GatewayProcess;
  before(async () => {
    const devices = mkdtempSync(join(tmpdir(), 'edgetwin-qs-'));
    cpSync(join(ROOT, 'examples', 'quickstart'), devices, { recursive: true });
    gw = await startGatewayProcess({ devices: [devices] });
  });
  after(async () => {
    await gw?.stop();
  });

  const twin = async (ref: string): Promise<TwinJson> => {
    const r = await cli(['twin', 'get', ref, '--json', '--api-url', gw.apiUrl]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as TwinJson;
  };
  const prop = (t: TwinJson, name: string) => t.properties[name]!;

  it('lists both quick-start devices online', async () => {
    await waitFor('both devices online', async () => {
      const r = await cli(['devices', '--json', '--api-url', gw.apiUrl]);
      const body = JSON.parse(r.stdout) as { devices: { device: string; state: string }[] };
      const states = Object.fromEntries(body.devices.map((d) => [d.device, d.state]));
      return states['default/thermostat'] === 'online' && states['default/packaging-line'] === 'online';
    });
    const table = await cli(['devices', '--api-url', gw.apiUrl]);
    assert.match(table.stdout, /default\/thermostat\s+online/);
  });

  it('applies the YAML desired setpoint on start', async () => {
    await waitFor('setpoint 21.5 applied', async () => {
      const p = prop(await twin('default/thermostat'), 'setpoint');
      return p.reported?.value === 21.5 && p.reconcile.state === 'applied';
    });
  });

  it('sets a setpoint with `twin set` and shows it applied in `twin get`', async () => {
    const set = await cli(['twin', 'set', 'default/thermostat', 'setpoint=24', '--api-url', gw.apiUrl]);
    assert.equal(set.code, 0, set.stderr);
    await waitFor('setpoint 24 applied', async () => {
      const p = prop(await twin('default/thermostat'), 'setpoint');
      return p.desired?.value === 24 && p.reported?.value === 24 && p.reconcile.state === 'applied';
    });
    const table = await cli(['twin', 'get', 'default/thermostat', '--api-url', gw.apiUrl]);
    assert.match(table.stdout, /setpoint\s+24\s+good\s+24\s+applied/);
  });

  it('the README\'s mosquitto_sub and mosquitto_pub lines work against the embedded broker', { skip: spawnSync('mosquitto_pub', ['--help']).error !== undefined && 'mosquitto-clients is not installed' }, async () => {
    // The README's commands, on this gateway's port: watch the twin, then set the setpoint the KubeEdge way.
    const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(gw.mqttPort), '-v', '-t', '$hw/events/device/#', '-t', '$ke/events/device/#']);
    let seen = '';
    sub.stdout.on('data', (d) => (seen += d));
    try {
      await waitFor('data updates on $ke/events', () => seen.includes('$ke/events/device/default/thermostat/data/update'));
      const pub = spawnSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(gw.mqttPort), '-t', '$hw/events/device/default/thermostat/twin/update',
        '-m', '{"event_id":"1","timestamp":0,"twin":{"setpoint":{"expected":{"value":"22"}}}}'], { encoding: 'utf8' });
      assert.equal(pub.status, 0, pub.stderr);
      await waitFor('setpoint 22 applied', async () => {
        const p = prop(await twin('default/thermostat'), 'setpoint');
        return p.desired?.value === 22 && p.reported?.value === 22 && p.reconcile.state === 'applied';
      });
      await waitFor('the twin document published for the subscriber', () => seen.includes('$hw/events/device/default/thermostat/twin/update/document'));
    } finally {
      sub.kill();
    }
  });

  it('refuses a value above the model maximum with a message naming the limit', async () => {
    const set = await cli(['twin', 'set', 'default/thermostat', 'setpoint=95', '--api-url', gw.apiUrl]);
    assert.equal(set.code, 1);
    assert.match(set.stderr, /maximum/);
  });

  it('refuses a desired value for a ReadOnly property', async () => {
    const set = await cli(['twin', 'set', 'default/thermostat', 'temperature=30', '--api-url', gw.apiUrl]);
    assert.equal(set.code, 1);
    assert.match(set.stderr, /ReadOnly|read-only|read only/i);
  });

  it('says clearly when no gateway is listening', async () => {
    const r = await cli(['devices', '--api-url', 'http://127.0.0.1:1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot reach the gateway/);
  });
});
