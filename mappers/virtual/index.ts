// The virtual driver as a package would ship it: a DriverLoader the gateway lists.

import type { DriverLoader } from '../sdk/host.ts';

export const virtualLoader: DriverLoader = {
  name: 'virtual',
  load: async () => (await import('./driver.ts')).virtualDriver,
};

export { virtualSwitch, VirtualSwitch } from './switch.ts';

// A driver package's default export: the gateway loads built-in drivers the way it loads npm ones.
export default virtualLoader;
