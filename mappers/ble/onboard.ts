// Onboarding: scan for sensors, then connect to one, discover its services, read the
// characteristics whose format the Bluetooth SIG fixes (Device Information, Battery,
// Environmental Sensing) and propose a DeviceModel and Device that `edgetwin validate` accepts.

import type { BleAdapter } from './adapter.ts';
import { knownDecoder } from './config.ts';
import { normAddress, toHex } from './ids.ts';
import { decode, proposalYaml as deviceProposal, type ProposedProperty } from '../sdk/index.ts';
import { codecFor } from './values.ts';

export interface ScanResult {
  address: string;
  name?: string;
  rssi: number;
  connectable: boolean;
  services: string[];
  manufacturerData?: string;
  serviceData: { uuid: string; data: string }[];
}

export interface ScanOptions {
  seconds: number;
  /** Case-insensitive substring or /regex/ of the advertised name. */
  name?: string;
  service?: string;
}

function nameMatcher(pattern: string | undefined): (name: string | undefined) => boolean {
  if (!pattern) return () => true;
  const re = /^\/(.*)\/([a-z]*)$/.exec(pattern);
  if (re) {
    const rx = new RegExp(re[1]!, re[2] || 'i');
    return (n) => n !== undefined && rx.test(n);
  }
  return (n) => n !== undefined && n.toLowerCase().includes(pattern.toLowerCase());
}

/** Listen for advertisements for `seconds`; one result per address, strongest signal first. */
export async function scan(adapter: BleAdapter, opts: ScanOptions): Promise<ScanResult[]> {
  const found = new Map<string, ScanResult>();
  const matches = nameMatcher(opts.name);
  const service = opts.service?.toLowerCase().replace(/^0x/, '').replace(/-/g, '');
  const unwatch = adapter.watch((p) => {
    const adv = p.advertisement;
    const result: ScanResult = {
      address: normAddress(p.address),
      name: adv.localName || found.get(p.address)?.name,
      rssi: p.rssi,
      connectable: p.connectable,
      services: adv.serviceUuids ?? [],
      manufacturerData: adv.manufacturerData ? toHex(adv.manufacturerData) : undefined,
      serviceData: (adv.serviceData ?? []).map((s) => ({ uuid: s.uuid, data: toHex(s.data) })),
    };
    if (!matches(result.name)) return;
    if (service && !result.services.includes(service) && !result.serviceData.some((s) => s.uuid === service)) return;
    found.set(result.address, result);
  });
  await new Promise((resolve) => setTimeout(resolve, opts.seconds * 1000));
  unwatch();
  return [...found.values()].sort((a, b) => b.rssi - a.rssi);
}

export interface CharacteristicInfo {
  service: string;
  uuid: string;
  properties: string[];
  name?: string;
  /** Decoded value of a well-known characteristic, when it could be read. */
  value?: string | number;
  error?: string;
}

export interface OnboardResult {
  address: string;
  name?: string;
  characteristics: CharacteristicInfo[];
  yaml: string;
}

/** Connect, discover, read the well-known characteristics, and write the proposal. */
export async function onboard(adapter: BleAdapter, address: string, timeoutMs: number): Promise<OnboardResult> {
  const release = await adapter.acquireSlot('edgetwin ble onboard', timeoutMs);
  try {
    const p = await adapter.find(address, timeoutMs);
    if (!p.connectable) {
      const name = p.advertisement.localName || undefined;
      return { address: normAddress(p.address), name, characteristics: [], yaml: advertisementProposal(normAddress(p.address), name, p.advertisement) };
    }
    await adapter.connect(p, timeoutMs);
    try {
      const characteristics: CharacteristicInfo[] = [];
      for (const s of await p.discoverServicesAsync([])) {
        for (const c of await s.discoverCharacteristicsAsync([])) {
          const known = knownDecoder(c.uuid);
          const info: CharacteristicInfo = { service: s.uuid, uuid: c.uuid, properties: c.properties, name: known?.name ?? c.name ?? undefined };
          if (known && c.properties.includes('read')) {
            try {
              const codec = codecFor({ characteristicUUID: c.uuid }, known.type === 'STRING' ? 'string' : 'float')!;
              info.value = decode(await c.readAsync(), codec) as string | number;
            } catch (err) {
              info.error = (err as Error).message;
            }
          }
          characteristics.push(info);
        }
      }
      const name = p.advertisement.localName || undefined;
      return { address: normAddress(p.address), name, characteristics, yaml: proposal(normAddress(p.address), name, characteristics) };
    } finally {
      if (p.state === 'connected') await p.disconnectAsync().catch(() => undefined);
    }
  } finally {
    release();
  }
}

export function slug(name: string | undefined, address: string): string {
  const s = (name ?? '').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  return s || `ble-${address.replace(/:/g, '')}`;
}

/** DeviceModel + Device for the well-known characteristics; the rest listed as comments to map by hand. */
export function proposal(address: string, localName: string | undefined, chars: CharacteristicInfo[]): string {
  const name = slug(localName, address);
  const known = chars.filter((c) => knownDecoder(c.uuid) && (c.properties.includes('read') || c.properties.includes('notify')));
  const used = new Set<string>();
  const props = known.map((c) => {
    const k = knownDecoder(c.uuid)!;
    let prop = k.property;
    for (let i = 2; used.has(prop); i++) prop = `${k.property}${i}`;
    used.add(prop);
    const push = c.properties.includes('notify') ? 'notify' : c.properties.includes('indicate') ? 'indicate' : undefined;
    const isInfo = k.type === 'STRING';
    return {
      model: { name: prop, description: `${k.name} (0x${c.uuid.toUpperCase()})${c.value !== undefined ? `, read ${c.value} during onboarding` : ''}`, type: k.type, accessMode: 'ReadOnly', ...(k.unit ? { unit: k.unit } : {}) },
      device: {
        name: prop,
        // Device information does not change; environmental values are worth a look every 10 s.
        collectCycle: isInfo ? 3_600_000 : 10_000,
        visitors: { protocolName: 'bluetooth', configData: { characteristicUUID: c.uuid, ...(push && !isInfo ? { mode: push } : {}) } },
      },
    };
  });
  const others = chars.filter((c) => !known.includes(c));
  const header = [
    `# Proposed by \`edgetwin ble onboard ${address.toUpperCase()}\`${localName ? ` (${localName})` : ''}.`,
    '# Well-known characteristics are mapped below; check the units and cycles, then `edgetwin validate` this file.',
    ...(others.length ? ['# Other characteristics found (map them with characteristicUUID plus dataType or dataConverter):'] : []),
    ...others.map((c) => `#   service ${c.service} characteristic ${c.uuid} [${c.properties.join(', ')}]${c.name ? ` ${c.name}` : ''}`),
  ];
  return deviceProposal({ name, protocol: 'bluetooth', protocolConfig: { macAddress: address.toUpperCase() }, properties: props, header });
}

/** A sensor that only broadcasts: its advertised data as BYTES and its RSSI, to decode with dataType and offset. */
export function advertisementProposal(address: string, localName: string | undefined, adv: { manufacturerData?: Buffer; serviceData?: { uuid: string; data: Buffer }[] }): string {
  const name = slug(localName, address);
  const props: ProposedProperty[] = [];
  const add = (prop: string, type: string, description: string, configData: object) => props.push({
    model: { name: prop, description, type, accessMode: 'ReadOnly' },
    device: { name: prop, visitors: { protocolName: 'bluetooth', configData } },
  });
  const m = adv.manufacturerData;
  if (m && m.length >= 2) {
    add('manufacturerData', 'BYTES', `manufacturer data of company 0x${m.readUInt16LE(0).toString(16).padStart(4, '0')}, ${toHex(m.subarray(2))} at onboarding`, { advertisement: { source: 'manufacturerData', companyId: m.readUInt16LE(0) } });
  }
  for (const sd of adv.serviceData ?? []) add(`serviceData${sd.uuid.toUpperCase()}`, 'BYTES', `service data of ${sd.uuid}, ${toHex(sd.data)} at onboarding`, { advertisement: { source: 'serviceData', serviceUUID: sd.uuid } });
  add('rssi', 'INT', 'received signal strength', { advertisement: { source: 'rssi' } });
  const header = [
    `# Proposed by \`edgetwin ble onboard ${address.toUpperCase()}\`${localName ? ` (${localName})` : ''}: it does not accept connections, so its values come from its advertisements.`,
    '# The payloads are mapped as BYTES; decode a value with dataType, byteOrder, offset and scale (see docs/ble.md), then `edgetwin validate` this file.',
  ];
  return deviceProposal({ name, protocol: 'bluetooth', protocolConfig: { macAddress: address.toUpperCase() }, properties: props, header });
}
