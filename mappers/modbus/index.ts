// The Modbus driver as the gateway lists it: loaded only when a Modbus device exists.

import type { DriverLoader } from '../sdk/host.ts';

export const modbusLoader: DriverLoader = {
  name: 'modbus',
  load: async () => (await import('./driver.ts')).modbusDriver,
};
