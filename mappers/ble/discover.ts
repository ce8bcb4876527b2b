// Driver.discover for BLE: without `address`, a scan (one device per advertiser, strongest first);
// with `address`, onboarding that sensor (connect, read the well-known characteristics) and its
// proposed DeviceModel and Device. `edgetwin ble scan`, `ble onboard` and the dashboard use it.

import type { ConfigData } from '../../core/model/types.ts';
import type { DiscoveredDevice, DriverContext } from '../sdk/index.ts';
import type { BleAdapter } from './adapter.ts';
import { onboard, scan, slug } from './onboard.ts';

/** The options discover() takes, as the CLI flags name them. */
export interface BleDiscoverOptions {
  /** HCI adapter (default hci0). */
  adapter?: string;
  /** Scan: seconds to listen (default 5); name substring or /regex/; advertised service UUID. */
  seconds?: number;
  name?: string;
  service?: string;
  /** Onboard this sensor instead of scanning. */
  address?: string;
  /** Onboard: ms for finding and connecting (default 15000). */
  timeout?: number;
}

export async function* discoverBle(open: (adapter: string) => Promise<BleAdapter>, options: ConfigData, ctx: DriverContext): AsyncIterable<DiscoveredDevice> {
  const o = options as BleDiscoverOptions;
  const adapterName = o.adapter ?? 'hci0';
  // The key running devices use, so a scan shares the adapter with them.
  const key = `ble:${adapterName}`;
  const adapter = await ctx.links.acquire(key, () => open(adapterName));
  try {
    if (o.address) {
      const r = await onboard(adapter, o.address, o.timeout ?? 15_000);
      yield { name: slug(r.name, r.address), protocol: { macAddress: r.address, adapter: adapterName }, details: { name: r.name, characteristics: r.characteristics }, proposal: r.yaml };
      return;
    }
    for (const r of await scan(adapter, { seconds: o.seconds ?? 5, name: o.name, service: o.service })) {
      yield { name: slug(r.name, r.address), protocol: { macAddress: r.address, adapter: adapterName }, details: { ...r } };
    }
  } finally {
    await ctx.links.release(key);
  }
}
