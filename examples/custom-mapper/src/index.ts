// The package's default export: the driver loader edgetwin loads with `--driver custom-mapper`
// or `drivers: [custom-mapper]`. The driver itself loads only when a line device exists.
import type { DriverLoader } from 'edgetwin/sdk';

const lineLoader: DriverLoader = {
  name: 'line',
  load: async () => (await import('./driver.js')).lineDriver,
};

export default lineLoader;
