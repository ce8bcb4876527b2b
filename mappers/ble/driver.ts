// The BLE driver: KubeEdge's Bluetooth mapper fields on noble. Devices on one adapter share it
// (its scan and connection slots, through the runtime's link registry) and one scheduler (the
// link key names the adapter).

import { defineDriver, SDK_VERSION, type DeviceBinding, type Driver, type DriverContext } from '../sdk/index.ts';
import { BleAdapter } from './adapter.ts';
import { protocolSchema, visitorProblems, visitorSchema, type BleProtocol, type BleVisitor } from './config.ts';
import { isPush, openConnection } from './connection.ts';
import { discoverBle } from './discover.ts';
import { createNoble, describeBinding, type BleBinding } from './noble-loader.ts';
import { codecFor } from './values.ts';

const adapterKey = (config: BleProtocol) => `ble:${config.adapter}`;

/** The shared adapter of a device; a failure (no adapter) leaves nothing acquired. */
export function openAdapter(binding: BleBinding, name: string, maxConnections: number): Promise<BleAdapter> {
  return BleAdapter.open(createNoble(binding, name), { name, binding: describeBinding(binding), maxConnections });
}

export function createBleDriver(binding: BleBinding): Driver<BleProtocol, BleVisitor> {
  return defineDriver<BleProtocol, BleVisitor>({
    name: 'bluetooth',
    sdkVersion: `^${SDK_VERSION}`,
    protocolSchema,
    visitorSchema,
    check(device) {
      return device.properties.flatMap((p) => visitorProblems(p.visitor, p.spec.type, p.spec.accessMode).map((x) => ({ property: p.name, ...x })));
    },
    link: (device) => adapterKey(device.config),
    maxInFlight: (device) => device.config.maxConnections,
    timeout: (device) => device.config.timeout,
    codec: (p) => codecFor(p.visitor, p.spec.type),
    // Notify, indicate and advertisement properties come by subscription; GATT reads are polled by
    // the adapter's scheduler beside them.
    pushes: (p) => isPush(p),
    async connect(device: DeviceBinding<BleProtocol, BleVisitor>, ctx: DriverContext) {
      const key = adapterKey(device.config);
      const adapter = await ctx.links.acquire(key, () => openAdapter(binding, device.config.adapter, device.config.maxConnections));
      return openConnection({
        id: device.id,
        config: device.config,
        properties: device.properties,
        adapter,
        ctx,
        codec: (p) => codecFor(p.visitor, p.spec.type),
        release: () => ctx.links.release(key),
      });
    },
    // A scan, or onboarding one sensor (options.address): see discover.ts.
    discover: (options, ctx) => discoverBle((name) => openAdapter(binding, name, 1), options, ctx),
  });
}
