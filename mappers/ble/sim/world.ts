// A simulated BLE world: peripherals that advertise, offer GATT services whose values change,
// notify subscribers and drop connections. It is a stand-in for the radio, named as such
// everywhere; noble talks to it through SimBindings, so the mapper code above noble is the code
// that runs against a real adapter. A world comes from a YAML/JSON file (`--ble-binding
// sim:<file>`) or is built by a test, which then steers it (setValue, disconnect, setReachable).

import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { normAddress, normUuid, parseHex, peripheralId } from '../ids.ts';

export type CharacteristicProperty = 'read' | 'write' | 'writeWithoutResponse' | 'notify' | 'indicate';

/** Bytes, written the way a datasheet does: hex, text, or one little-endian number (GATT's byte order). */
export type SimValue = string | { hex: string } | { utf8: string } | { uint8: number } | { int8: number } | { uint16: number }
  | { int16: number } | { uint32: number } | { int32: number } | { float32: number };

/** A fixed value, or a sequence the world steps through every `everyMs` (and notifies). */
export type SimSource = SimValue | { sequence: SimValue[]; everyMs?: number };

export interface SimCharacteristicSpec { uuid: string; properties: CharacteristicProperty[]; value?: SimSource }
export interface SimServiceSpec { uuid: string; characteristics: SimCharacteristicSpec[] }
export interface SimPeripheralSpec {
  address: string;
  name?: string;
  rssi?: number;
  connectable?: boolean;
  advertisement?: {
    intervalMs?: number;
    serviceUuids?: string[];
    manufacturerData?: SimSource;
    serviceData?: { uuid: string; data: SimSource }[];
    txPowerLevel?: number;
  };
  services?: SimServiceSpec[];
  /** Drop the connection this long after each connect: a sensor that keeps going away. */
  disconnectEveryMs?: number;
}
export interface SimWorldSpec {
  adapter?: { present?: boolean; maxConnections?: number };
  peripherals: SimPeripheralSpec[];
}

export function encodeSimValue(v: SimValue): Buffer {
  if (typeof v === 'string') return parseHex(v);
  const [[kind, x]] = Object.entries(v) as [[string, string | number]];
  const b = Buffer.alloc(kind === 'uint8' || kind === 'int8' ? 1 : kind.endsWith('16') ? 2 : 4);
  switch (kind) {
    case 'hex': return parseHex(String(x));
    case 'utf8': return Buffer.from(String(x), 'utf8');
    case 'uint8': b.writeUInt8(Number(x)); return b;
    case 'int8': b.writeInt8(Number(x)); return b;
    case 'uint16': b.writeUInt16LE(Number(x)); return b;
    case 'int16': b.writeInt16LE(Number(x)); return b;
    case 'uint32': b.writeUInt32LE(Number(x)); return b;
    case 'int32': b.writeInt32LE(Number(x)); return b;
    case 'float32': b.writeFloatLE(Number(x)); return b;
    default: throw new Error(`unknown simulated value kind "${kind}" (hex, utf8, uint8, int8, uint16, int16, uint32, int32, float32)`);
  }
}

/** A source's bytes in order, and how often to step. */
function steps(source: SimSource | undefined): { values: Buffer[]; everyMs?: number } {
  if (source === undefined) return { values: [Buffer.alloc(0)] };
  if (typeof source === 'object' && 'sequence' in source) return { values: source.sequence.map(encodeSimValue), everyMs: source.everyMs ?? 1000 };
  return { values: [encodeSimValue(source)] };
}

interface Stepper { values: Buffer[]; index: number; everyMs?: number; onStep: () => void }

export class SimCharacteristic {
  readonly uuid: string;
  readonly properties: CharacteristicProperty[];
  value: Buffer;
  readonly stepper: Stepper;
  constructor(readonly service: string, spec: SimCharacteristicSpec, onStep: (c: SimCharacteristic) => void) {
    this.uuid = normUuid(spec.uuid);
    this.properties = spec.properties;
    const s = steps(spec.value);
    this.value = s.values[0]!;
    this.stepper = { ...s, index: 0, onStep: () => onStep(this) };
  }
}

export class SimPeripheral {
  readonly id: string;
  readonly address: string;
  connected = false;
  reachable = true;
  rssi: number;
  readonly characteristics: SimCharacteristic[] = [];
  readonly subscriptions = new Set<string>();
  /** Every write the peripheral received, for tests and the world's log. */
  readonly writes: { uuid: string; data: Buffer; withoutResponse: boolean }[] = [];
  connects = 0;
  subscribes = 0;
  manufacturerData?: Stepper;
  readonly serviceData: { uuid: string; data: Stepper }[] = [];

  constructor(readonly spec: SimPeripheralSpec, private readonly world: SimWorld) {
    this.address = normAddress(spec.address);
    this.id = peripheralId(spec.address);
    this.rssi = spec.rssi ?? -60;
    for (const svc of spec.services ?? []) {
      for (const c of svc.characteristics) this.characteristics.push(new SimCharacteristic(normUuid(svc.uuid), c, (ch) => this.#stepped(ch)));
    }
    const adv = spec.advertisement;
    if (adv?.manufacturerData !== undefined) this.manufacturerData = { ...steps(adv.manufacturerData), index: 0, onStep: () => undefined };
    for (const sd of adv?.serviceData ?? []) this.serviceData.push({ uuid: normUuid(sd.uuid), data: { ...steps(sd.data), index: 0, onStep: () => undefined } });
  }

  get services(): string[] {
    return [...new Set(this.characteristics.map((c) => c.service))];
  }

  characteristic(uuid: string, service?: string): SimCharacteristic | undefined {
    const u = normUuid(uuid);
    return this.characteristics.find((c) => c.uuid === u && (service === undefined || c.service === normUuid(service)));
  }

  /** Change a value as the sensor would; subscribers get a notification. */
  setValue(uuid: string, value: SimValue | Buffer): void {
    const c = this.characteristic(uuid);
    if (!c) throw new Error(`simulated peripheral ${this.address} has no characteristic ${uuid}`);
    c.value = Buffer.isBuffer(value) ? value : encodeSimValue(value);
    this.#stepped(c);
  }

  #stepped(c: SimCharacteristic): void {
    if (this.connected && this.subscriptions.has(c.uuid)) this.world.emit('notification', this, c);
  }

  /** The link drops (out of range, battery swap): the central sees a disconnect. */
  disconnect(reason = 'connection timeout'): void {
    if (!this.connected) return;
    this.connected = false;
    this.subscriptions.clear();
    this.world.emit('dropped', this, reason);
  }

  /** Out of range or powered off: no advertisements, connects hang. */
  setReachable(reachable: boolean): void {
    this.reachable = reachable;
    if (!reachable) this.disconnect('out of range');
  }

  advertisement(): { localName?: string; serviceUuids: string[]; manufacturerData?: Buffer; serviceData: { uuid: string; data: Buffer }[]; txPowerLevel?: number } {
    const adv = this.spec.advertisement;
    return {
      localName: this.spec.name,
      serviceUuids: (adv?.serviceUuids ?? []).map(normUuid),
      manufacturerData: this.manufacturerData?.values[this.manufacturerData.index],
      serviceData: this.serviceData.map((s) => ({ uuid: s.uuid, data: s.data.values[s.data.index]! })),
      txPowerLevel: adv?.txPowerLevel,
    };
  }

  steppers(): Stepper[] {
    return [...this.characteristics.map((c) => c.stepper), ...(this.manufacturerData ? [this.manufacturerData] : []), ...this.serviceData.map((s) => s.data)];
  }
}

/**
 * Events for the bindings: `notification` (peripheral, characteristic), `dropped` (peripheral,
 * reason), `advertise` (peripheral), `adapter` (present).
 */
export class SimWorld extends EventEmitter {
  readonly peripherals: SimPeripheral[];
  adapterPresent: boolean;
  readonly maxConnections: number;
  #timers: NodeJS.Timeout[] = [];
  readonly #drops = new Map<SimPeripheral, NodeJS.Timeout>();
  #running = 0;

  constructor(spec: SimWorldSpec, readonly source = 'a test') {
    super();
    this.adapterPresent = spec.adapter?.present ?? true;
    this.maxConnections = spec.adapter?.maxConnections ?? 8;
    this.peripherals = (spec.peripherals ?? []).map((p) => new SimPeripheral(p, this));
  }

  static fromFile(file: string): SimWorld {
    let spec: SimWorldSpec;
    try {
      spec = parse(readFileSync(file, 'utf8')) as SimWorldSpec;
    } catch (err) {
      throw new Error(`cannot read the simulated BLE world ${file}: ${(err as Error).message}`);
    }
    if (!spec || !Array.isArray(spec.peripherals)) throw new Error(`${file} is not a simulated BLE world: it needs a "peripherals" list`);
    try {
      return new SimWorld(spec, file);
    } catch (err) {
      throw new Error(`${file}: ${(err as Error).message}`);
    }
  }

  /** Unplug the adapter (centrals see poweredOff) or plug it back in (poweredOn). */
  setAdapterPresent(present: boolean): void {
    if (present === this.adapterPresent) return;
    this.adapterPresent = present;
    if (!present) for (const p of this.peripherals) p.disconnect('adapter removed');
    this.emit('adapter', present);
  }

  peripheral(address: string): SimPeripheral {
    const p = this.peripherals.find((x) => x.address === normAddress(address) || x.id === address);
    if (!p) throw new Error(`the simulated world has no peripheral ${address}`);
    return p;
  }

  get connectedCount(): number {
    return this.peripherals.filter((p) => p.connected).length;
  }

  /** Timers run while at least one binding uses the world, so an idle world holds no handles. */
  run(): void {
    if (this.#running++ > 0) return;
    for (const p of this.peripherals) {
      for (const s of p.steppers()) {
        if (s.everyMs === undefined || s.values.length < 2) continue;
        this.#timers.push(setInterval(() => {
          s.index = (s.index + 1) % s.values.length;
          const c = p.characteristics.find((x) => x.stepper === s);
          if (c) c.value = s.values[s.index]!;
          s.onStep();
        }, s.everyMs));
      }
      this.#timers.push(setInterval(() => { if (p.reachable) this.emit('advertise', p); }, p.spec.advertisement?.intervalMs ?? 1000));
    }
  }

  halt(): void {
    if (--this.#running > 0) return;
    this.#running = 0;
    for (const t of this.#timers) clearInterval(t);
    for (const t of this.#drops.values()) clearTimeout(t);
    this.#timers = [];
    this.#drops.clear();
  }

  connected(p: SimPeripheral): void {
    p.connected = true;
    p.connects++;
    const every = p.spec.disconnectEveryMs;
    if (!every) return;
    clearTimeout(this.#drops.get(p));
    this.#drops.set(p, setTimeout(() => p.disconnect('simulated drop (disconnectEveryMs)'), every));
  }
}
