// Driver.discover run for onboarding, outside any running device: the CLI's `ble scan`, `ble onboard`
// and `opcua browse`, and MapperHost.discover (the dashboard) all come through here, so a driver
// package's discover() works in each the same way.

import type { Logger } from '../../core/log.ts';
import { EdgetwinError, ErrorCodes } from '../../core/errors.ts';
import type { ConfigData } from '../../core/model/types.ts';
import type { DiscoveredDevice, Driver, DriverContext } from './driver.ts';
import { LinkRegistry, type LinkLease } from './links.ts';

export interface DiscoverOptions {
  log: Logger;
  dataDir: string;
  /** The gateway's links, to share an adapter a running device holds; default a registry of its own, closed after. */
  links?: LinkRegistry;
  signal?: AbortSignal;
}

/** Every device the driver finds with these options. An error names the driver and what failed. */
export async function discoverWith(driver: Driver, options: ConfigData, opts: DiscoverOptions): Promise<DiscoveredDevice[]> {
  if (!driver.discover) {
    throw new EdgetwinError(ErrorCodes.BAD_REQUEST, `the ${driver.name} driver cannot discover devices`, {}, 'write the Device YAML by hand (docs/configuration.md), or use a driver that implements discover()');
  }
  const links = opts.links ?? new LinkRegistry();
  const leases: LinkLease<unknown>[] = [];
  const ctx: DriverContext = {
    log: opts.log,
    signal: opts.signal ?? new AbortController().signal,
    links,
    dataDir: opts.dataDir,
    // Nothing to reconnect: a discovery that loses its link fails with the driver's error.
    lost: () => undefined,
    count: () => undefined,
    share: async (key, open, what) => {
      const lease = await links.share(key, open, () => undefined, what);
      leases.push(lease);
      return lease;
    },
  };
  const found: DiscoveredDevice[] = [];
  try {
    for await (const device of driver.discover(options, ctx)) found.push(device);
  } finally {
    await Promise.all(leases.map((l) => l.release()));
    if (!opts.links) await links.closeAll();
  }
  return found;
}
