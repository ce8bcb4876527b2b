// The OPC UA driver as the gateway lists it: node-opcua loads only when an OPC UA device exists.

import type { DriverLoader } from '../sdk/host.ts';

export const opcuaLoader: DriverLoader = {
  name: 'opcua',
  load: async () => (await import('./driver.ts')).opcuaDriver,
};

// A driver package's default export: the gateway loads built-in drivers the way it loads npm ones.
export default opcuaLoader;
