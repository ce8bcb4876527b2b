// Device YAML proposals for the dashboard's onboarding: the drivers' own discover() (OPC UA browse,
// BLE scan and onboard), the same calls `edgetwin opcua browse` and `edgetwin ble scan|onboard` make.
// The protocol libraries load inside, so nothing else pays for them.

import { resolve } from 'node:path';
import type { OnboardResult, ScanResult } from '../mappers/ble/onboard.ts';
import type { BrowsedVariable } from '../mappers/opcua/browse.ts';
import type { DiscoveredDevice, Driver } from '../mappers/sdk/driver.ts';

export interface OpcuaBrowseRequest {
  url: string;
  depth?: number;
  filter?: string;
  name?: string;
  namespace?: string;
  collectCycle?: number;
  securityPolicy?: string;
  securityMode?: 'None' | 'Sign' | 'SignAndEncrypt';
  user?: string;
  passwordFile?: string;
  /** Seconds for connect and each request. */
  timeout?: number;
  includeServer?: boolean;
  uris?: boolean;
}

async function discover(driver: Driver, options: Record<string, unknown>, dataDir: string): Promise<DiscoveredDevice[]> {
  const { discoverWith } = await import('../mappers/sdk/discovery.ts');
  const { silentLogger } = await import('../core/log.ts');
  return discoverWith(driver, options, { log: silentLogger, dataDir: resolve(dataDir) });
}

/** The variables found, and the proposal (empty when none were found). */
export async function proposeOpcua(req: OpcuaBrowseRequest, dataDir: string): Promise<{ variables: BrowsedVariable[]; yaml: string; name: string }> {
  const { opcuaDriver } = await import('../mappers/opcua/driver.ts');
  const name = req.name ?? `opcua-${new URL(req.url.replace(/^opc\.tcp:/, 'http:')).host}`;
  const [device] = await discover(opcuaDriver, {
    url: req.url,
    ...(req.securityPolicy ? { securityPolicy: req.securityPolicy } : {}),
    ...(req.securityMode ? { securityMode: req.securityMode } : {}),
    ...(req.user ? { userName: req.user } : {}),
    ...(req.passwordFile ? { password: resolve(req.passwordFile) } : {}),
    timeout: req.timeout ?? 10,
    depth: req.depth ?? 4,
    filter: req.filter,
    includeServer: req.includeServer,
    namespaceUris: req.uris,
    name,
    namespace: req.namespace ?? 'default',
    collectCycle: req.collectCycle ?? 1000,
  }, dataDir);
  const variables = (device?.details?.variables ?? []) as BrowsedVariable[];
  return { variables, yaml: device?.proposal ?? '', name };
}

async function bleDriver(binding: string): Promise<Driver> {
  const { parseBinding } = await import('../mappers/ble/index.ts');
  const { createBleDriver } = await import('../mappers/ble/driver.ts');
  return createBleDriver(parseBinding(binding));
}

export async function scanBle(binding: string, adapterName: string, opts: { seconds: number; name?: string; service?: string }): Promise<ScanResult[]> {
  const found = await discover(await bleDriver(binding), { adapter: adapterName, ...opts }, '.');
  return found.map((d) => d.details as unknown as ScanResult);
}

export async function onboardBle(binding: string, adapterName: string, address: string, timeoutMs: number): Promise<OnboardResult> {
  const [device] = await discover(await bleDriver(binding), { adapter: adapterName, address, timeout: timeoutMs }, '.');
  const details = device!.details as { name?: string; characteristics: OnboardResult['characteristics'] };
  const { macAddress } = device!.protocol as { macAddress: string };
  return { address: macAddress, name: details.name, characteristics: details.characteristics, yaml: device!.proposal ?? '' };
}
