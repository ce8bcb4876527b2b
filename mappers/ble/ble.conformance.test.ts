// The mapper conformance kit against the BLE driver, with a simulated environmental sensor
// behind noble's binding seam as the peer. restart() drops the link as a sensor going out of range would.

import { runConformance } from '../sdk/testing.ts';
import { createBleLoader } from './index.ts';
import { CONTROL_CHAR, ENV_ADDRESS, testWorld } from './sim/sensors.ts';
import { SimWorld } from './sim/world.ts';

const world = new SimWorld(testWorld());

runConformance({
  driver: createBleLoader({ kind: 'sim', world }),
  simulator: {
    async start() {
      return {
        protocol: { macAddress: ENV_ADDRESS, timeout: 2000 },
        properties: [
          { name: 'temperature', type: 'float', visitor: { characteristicUUID: '2a6e' }, expect: 21.5 },
          { name: 'humidity', type: 'float', visitor: { characteristicUUID: '2a6f', mode: 'notify' } },
          { name: 'interval', type: 'int', accessMode: 'ReadWrite', visitor: { characteristicUUID: CONTROL_CHAR, dataType: 'uint8' }, write: 42 },
        ],
        failing: { name: 'missing', type: 'bytes', visitor: { characteristicUUID: 'ffe1' } },
      };
    },
    async stop() {},
    async restart() {
      world.peripheral(ENV_ADDRESS).disconnect('simulated power cycle');
    },
  },
  badConfigs: [
    { name: 'no macAddress', protocol: { adapter: 'hci0' }, field: 'macAddress' },
    { name: 'adapter not an HCI name', protocol: { macAddress: ENV_ADDRESS, adapter: 'usb0' }, field: 'adapter' },
    { name: 'characteristicUUID not a UUID', visitor: { property: 'temperature', configData: { characteristicUUID: 'temp' } }, field: 'characteristicUUID' },
    { name: 'unknown mode', visitor: { property: 'humidity', configData: { characteristicUUID: '2a6f', mode: 'stream' } }, field: 'mode' },
  ],
});
