// Device YAML proposals, one code path for the CLI (`opcua browse`, `ble scan`, `ble onboard`) and
// the dashboard's onboarding: walk an OPC UA server, or scan and read a BLE sensor, and propose a
// DeviceModel and Device. The protocol libraries load inside, so nothing else pays for them.

import { resolve } from 'node:path';
import type { BleAdapter } from '../mappers/ble/adapter.ts';
import type { OnboardResult, ScanResult } from '../mappers/ble/onboard.ts';
import type { BrowsedVariable } from '../mappers/opcua/browse.ts';

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

/** The variables found, and the proposal (empty when none were found). */
export async function proposeOpcua(req: OpcuaBrowseRequest, dataDir: string): Promise<{ variables: BrowsedVariable[]; yaml: string; name: string }> {
  const { browseServer } = await import('../mappers/opcua/browse.ts');
  const { proposalYaml } = await import('../mappers/opcua/proposal.ts');
  const protocol = {
    url: req.url,
    ...(req.securityPolicy ? { securityPolicy: req.securityPolicy } : {}),
    ...(req.securityMode ? { securityMode: req.securityMode } : {}),
    ...(req.user ? { userName: req.user } : {}),
    ...(req.passwordFile ? { password: resolve(req.passwordFile) } : {}),
    timeout: req.timeout ?? 10,
  };
  const variables = await browseServer(protocol, resolve(dataDir), { depth: req.depth ?? 4, filter: req.filter, includeServer: req.includeServer, namespaceUris: req.uris });
  const name = req.name ?? `opcua-${new URL(req.url.replace(/^opc\.tcp:/, 'http:')).host}`;
  const yaml = variables.length ? proposalYaml(variables, { name, namespace: req.namespace ?? 'default', protocol, collectCycle: req.collectCycle ?? 1000 }) : '';
  return { variables, yaml, name };
}

/** Opens the adapter (`hci` or `sim:<file>`), runs `fn`, closes it whatever happens. */
export async function withBleAdapter<T>(binding: string, adapterName: string, fn: (adapter: BleAdapter) => Promise<T>): Promise<T> {
  const { parseBinding } = await import('../mappers/ble/index.ts');
  const { openAdapter } = await import('../mappers/ble/driver.ts');
  const adapter = await openAdapter(parseBinding(binding), adapterName, 1);
  try {
    return await fn(adapter);
  } finally {
    await adapter.close();
  }
}

export async function scanBle(binding: string, adapterName: string, opts: { seconds: number; name?: string; service?: string }): Promise<ScanResult[]> {
  return withBleAdapter(binding, adapterName, async (adapter) => (await import('../mappers/ble/onboard.ts')).scan(adapter, opts));
}

export async function onboardBle(binding: string, adapterName: string, address: string, timeoutMs: number): Promise<OnboardResult> {
  return withBleAdapter(binding, adapterName, async (adapter) => (await import('../mappers/ble/onboard.ts')).onboard(adapter, address, timeoutMs));
}
