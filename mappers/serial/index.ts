// The serial instrument driver as a package ships it: a DriverLoader the gateway lists.

import type { DriverLoader } from '../sdk/index.ts';

export const serialLoader: DriverLoader = {
  name: 'serial',
  load: async () => (await import('./driver.ts')).serialDriver,
};

// A driver package's default export: the gateway loads built-in drivers the way it loads npm ones.
export default serialLoader;
