// The BLE driver as the gateway lists it. Light on purpose: noble and the driver load only when a
// BLE device is configured. `use()` picks the binding (`--ble-binding`) before the first device loads.

import type { DriverLoader } from '../sdk/index.ts';
import { parseBinding, simWorld, type BleBinding } from './noble-loader.ts';

export interface BleLoader extends DriverLoader {
  /** `hci` (a real adapter, the default) or `sim:<file>` (a simulated BLE world); throws on a bad binding or world file. */
  use(binding: string | BleBinding): void;
}

export function createBleLoader(initial: BleBinding = { kind: 'hci' }): BleLoader {
  let binding = initial;
  return {
    name: 'bluetooth',
    aliases: ['ble'],
    use(b) {
      binding = typeof b === 'string' ? parseBinding(b) : b;
      // A simulated world loads now, so a bad file stops the command instead of every BLE device.
      if (binding.kind === 'sim') simWorld(binding);
    },
    load: async () => (await import('./driver.ts')).createBleDriver(binding),
  };
}

export const bleLoader = createBleLoader();
export { parseBinding } from './noble-loader.ts';
export type { BleBinding } from './noble-loader.ts';

// A driver package's default export: the gateway loads built-in drivers the way it loads npm ones.
export default bleLoader;
