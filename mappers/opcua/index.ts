// The OPC UA driver as the gateway lists it: node-opcua loads only when an OPC UA device exists.

import type { DriverLoader } from '../sdk/host.ts';

export const opcuaLoader: DriverLoader = {
  name: 'opcua',
  load: async () => (await import('./driver.ts')).opcuaDriver,
};
