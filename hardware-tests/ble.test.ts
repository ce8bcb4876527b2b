// The BLE mapper against a real adapter and a real sensor. Opt-in: set
//   EDGETWIN_BLE_ADAPTER=hci0                 the adapter (the process needs CAP_NET_RAW/CAP_NET_ADMIN or root)
//   EDGETWIN_BLE_SENSOR=C4:7C:8D:6A:11:01     a sensor that advertises and accepts connections
//   EDGETWIN_BLE_CHARACTERISTIC=2a19          optional: a readable characteristic (default 2a19, Battery Level)
// Without them every test is skipped with the reason.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../core/log.ts';
import { makeDevice, RecordingSink, waitFor } from '../mappers/sdk/conformance/harness.ts';
import { MapperHost } from '../mappers/sdk/host.ts';
import { openAdapter } from '../mappers/ble/driver.ts';
import { createBleLoader } from '../mappers/ble/index.ts';
import { onboard, scan } from '../mappers/ble/onboard.ts';

const adapterName = process.env.EDGETWIN_BLE_ADAPTER;
const sensor = process.env.EDGETWIN_BLE_SENSOR;
const characteristic = process.env.EDGETWIN_BLE_CHARACTERISTIC ?? '2a19';
const skip = !adapterName || !sensor ? 'set EDGETWIN_BLE_ADAPTER (e.g. hci0) and EDGETWIN_BLE_SENSOR (the sensor\'s address) to run against real hardware' : false;

describe('BLE on a real adapter', { skip }, () => {
  it('scan sees the sensor advertising', async () => {
    const adapter = await openAdapter({ kind: 'hci' }, adapterName!, 1);
    try {
      const found = await scan(adapter, { seconds: 10 });
      assert.ok(found.some((r) => r.address === sensor!.toLowerCase()), `${sensor} not among ${found.map((r) => r.address).join(', ')}`);
    } finally {
      await adapter.close();
    }
  });

  it('onboard connects, discovers services and proposes a Device for the sensor', async () => {
    const adapter = await openAdapter({ kind: 'hci' }, adapterName!, 1);
    try {
      const result = await onboard(adapter, sensor!, 30_000);
      assert.ok(result.characteristics.length > 0, 'some characteristics discovered');
      assert.match(result.yaml, new RegExp(`macAddress: ${sensor!.toUpperCase()}`));
    } finally {
      await adapter.close();
    }
  });

  it('the gateway runtime connects and reads the characteristic', async () => {
    const sink = new RecordingSink();
    const host = new MapperHost({ sink, drivers: [createBleLoader({ kind: 'hci' })], log: silentLogger, dataDir: '.' });
    try {
      const d = makeDevice({ name: 'hw-sensor', protocol: 'bluetooth', config: { macAddress: sensor!, adapter: adapterName!, timeout: 30_000 }, properties: [{ name: 'value', type: 'bytes', collectCycle: 2000, visitor: { characteristicUUID: characteristic } }] });
      const { errors } = await host.apply([d]);
      assert.deepEqual(errors.map((e) => e.format()), []);
      await waitFor(() => sink.readings.find((r) => r.quality === 'good'), `a good reading of ${characteristic}`, 60_000);
    } finally {
      await host.close();
    }
  });
});
