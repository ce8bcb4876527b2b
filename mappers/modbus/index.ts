// The Modbus driver as the gateway lists it: loaded only when a Modbus device exists.

import type { DriverLoader } from '../sdk/host.ts';

export const modbusLoader: DriverLoader = {
  name: 'modbus',
  load: async () => (await import('./driver.ts')).modbusDriver,
};

// A driver package's default export: the gateway loads built-in drivers the way it loads npm ones.
export default modbusLoader;
