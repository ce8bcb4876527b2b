// The BLE mapper in a real gateway process, as a user runs it: the example's devices against the
// simulated world (`--ble-binding sim:<file>`), and, on this machine without a Bluetooth adapter,
// the real HCI binding beside a virtual device that must keep serving.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { cli, ROOT, startGatewayProcess } from './helpers/gateway-process.ts';
import { waitFor } from '../core/testing.ts';

interface TwinJson {
  state: string;
  properties: Record<string, { reported?: { value?: unknown; quality: string; error?: { code: string; message: string } } }>;
}

const example = join(ROOT, 'examples', 'ble-sensors');
const twin = async (apiUrl: string, ref: string): Promise<TwinJson> => (await fetch(`${apiUrl}/api/v1/devices/${ref}/twin`)).json() as Promise<TwinJson>;
const hasAdapter = existsSync('/sys/class/bluetooth') && readdirSync('/sys/class/bluetooth').length > 0;

describe('BLE devices in a running gateway', () => {
  it('serves the example sensors from the simulated world: notify, polled, advertisement-only, and a dataWrite write', async () => {
    const gw = await startGatewayProcess({ devices: [join(example, 'devices')], extra: ['--ble-binding', `sim:${join(example, 'world.yaml')}`] });
    try {
      const env = await waitFor('the environmental sensor to report temperature', async () => {
        const t = await twin(gw.apiUrl, 'default/env-sensor');
        return t.properties.temperature?.reported?.quality === 'good' ? t : undefined;
      });
      assert.equal(env.state, 'online');
      assert.ok([21.5, 21.62, 21.75, 21.68].includes(env.properties.temperature!.reported!.value as number));
      await waitFor('the beacon decoded from advertisements', async () => {
        const t = await twin(gw.apiUrl, 'default/beacon');
        return [22.5, 23, 22].includes(t.properties.temperature?.reported?.value as number) || undefined;
      });
      await waitFor('the door sensor battery read on its cycle', async () => {
        const t = await twin(gw.apiUrl, 'default/door-sensor');
        return t.properties.battery?.reported?.quality === 'good' || undefined;
      });
      const set = await cli(['twin', 'set', 'default/door-sensor', 'buzzer=ON', '--api-url', gw.apiUrl]);
      assert.equal(set.code, 0, set.stderr);
      await waitFor('the buzzer to read back ON', async () => (await twin(gw.apiUrl, 'default/door-sensor')).properties.buzzer?.reported?.value === 'ON' || undefined);
    } finally {
      await gw.stop();
    }
  });

  it('without a Bluetooth adapter, the BLE device is offline naming it and a virtual device keeps serving', { skip: hasAdapter ? 'this machine has a Bluetooth adapter' : false }, async () => {
    const gw = await startGatewayProcess({ devices: [join(example, 'devices', 'environmental.yaml'), join(ROOT, 'examples', 'quickstart', 'thermostat.yaml')] });
    try {
      const env = await waitFor('the BLE device to be offline', async () => {
        const t = await twin(gw.apiUrl, 'default/env-sensor');
        return t.state === 'offline' ? t : undefined;
      });
      assert.match(env.properties.temperature!.reported!.error!.message, /no Bluetooth adapter: hci0 is not present/);
      const first = await waitFor('the thermostat reading', async () => {
        const t = await twin(gw.apiUrl, 'default/thermostat');
        return t.state === 'online' && t.properties.temperature?.reported?.quality === 'good' ? t : undefined;
      });
      await waitFor('the thermostat to keep reporting', async () => {
        const t = await twin(gw.apiUrl, 'default/thermostat');
        return t.properties.temperature?.reported?.value !== first.properties.temperature!.reported!.value || undefined;
      });
      assert.doesNotMatch(gw.log(), /noble warning/, 'noble\'s own stdout advice is not printed');
    } finally {
      assert.equal(await gw.stop(), 0, 'a clean shutdown');
    }
  });
});
