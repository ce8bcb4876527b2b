// Driver.discover for BLE through MapperHost.discover (what the dashboard calls), against the
// simulated radio: a scan lists the advertisers as DiscoveredDevices, onboarding one proposes YAML.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCodes } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import { RecordingSink } from '../sdk/conformance/harness.ts';
import { MapperHost } from '../sdk/host.ts';
import { virtualLoader } from '../virtual/index.ts';
import { createBleLoader } from './index.ts';
import { ENV_ADDRESS, testWorld } from './sim/sensors.ts';
import { SimWorld } from './sim/world.ts';

test('MapperHost.discover runs the BLE scan and onboarding as DiscoveredDevices; a driver without discover says so', async () => {
  const world = new SimWorld(testWorld());
  const host = new MapperHost({ sink: new RecordingSink(), drivers: [createBleLoader({ kind: 'sim', world }), virtualLoader], log: silentLogger, dataDir: '.' });
  try {
    const found = await host.discover('ble', { seconds: 0.5 });
    const env = found.find((d) => d.protocol.macAddress === ENV_ADDRESS.toLowerCase() || d.protocol.macAddress === ENV_ADDRESS);
    assert.ok(env, `the environment sensor among ${found.map((d) => d.protocol.macAddress).join(', ')}`);
    assert.equal(env.protocol.adapter, 'hci0');
    assert.equal(typeof env.details?.rssi, 'number');
    assert.match(env.name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a Kubernetes name');

    const [onboarded] = await host.discover('bluetooth', { address: String(env.protocol.macAddress), timeout: 5000 });
    assert.ok(onboarded?.proposal, 'a proposal');
    assert.match(onboarded.proposal, /kind: DeviceModel[^]*kind: Device/);
    assert.ok(Array.isArray(onboarded.details?.characteristics));

    await assert.rejects(host.discover('virtual'), (e: Error & { code?: string }) => e.code === ErrorCodes.BAD_REQUEST && /the virtual driver cannot discover devices/.test(e.message));
    await assert.rejects(host.discover('nosuch'), (e: Error & { code?: string }) => e.code === ErrorCodes.PROTOCOL_UNKNOWN);
  } finally {
    await host.close();
  }
});
