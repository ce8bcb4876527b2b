// noble's binding seam, served by a simulated world instead of an HCI socket. noble's Noble class
// takes any object with this shape (the HCI, macOS and Windows bindings are such objects), so
// everything above it (Noble, Peripheral, Characteristic, and the edgetwin mapper) is the code
// that runs against a real adapter.

import { EventEmitter } from 'node:events';
import { normUuid } from '../ids.ts';
import type { SimCharacteristic, SimPeripheral, SimWorld } from './world.ts';

export class SimBindings extends EventEmitter {
  #scanning = false;
  #started = false;
  /** Started while the world had an adapter: listening to it and keeping its timers running. */
  #attached = false;
  #serviceFilter: string[] = [];
  /** Peripherals this central connected, so stopping it drops only its own links. */
  readonly #mine = new Set<string>();
  readonly #onAdvertise = (p: SimPeripheral) => { if (this.#scanning) this.#discover(p); };
  readonly #onNotification = (p: SimPeripheral, c: SimCharacteristic) => { if (this.#mine.has(p.id)) this.emit('read', p.id, c.service, c.uuid, c.value, true); };
  readonly #onDropped = (p: SimPeripheral, reason: string) => { if (this.#mine.delete(p.id)) this.emit('disconnect', p.id, reason); };
  readonly #onAdapter = (present: boolean) => this.emit('stateChange', present ? 'poweredOn' : 'poweredOff');

  constructor(private readonly world: SimWorld) {
    super();
  }

  start(): void {
    this.#started = true;
    if (!this.world.adapterPresent) {
      setImmediate(() => this.emit('stateChange', 'unsupported'));
      return;
    }
    this.#attached = true;
    this.world.run();
    this.world.on('advertise', this.#onAdvertise);
    this.world.on('notification', this.#onNotification);
    this.world.on('dropped', this.#onDropped);
    this.world.on('adapter', this.#onAdapter);
    setImmediate(() => {
      this.emit('addressChange', '00:00:5e:00:53:00');
      this.emit('stateChange', 'poweredOn');
    });
  }

  stop(): void {
    if (!this.#started) return;
    this.#started = false;
    this.#scanning = false;
    if (!this.#attached) return;
    this.#attached = false;
    for (const p of this.world.peripherals) if (p.connected && this.#mine.has(p.id)) p.disconnect('local host stopped');
    this.world.off('advertise', this.#onAdvertise);
    this.world.off('notification', this.#onNotification);
    this.world.off('dropped', this.#onDropped);
    this.world.off('adapter', this.#onAdapter);
    this.world.halt();
  }

  reset(): void {}
  setScanParameters(): void { setImmediate(() => this.emit('scanParametersSet')); }

  startScanning(serviceUuids?: string[], _allowDuplicates?: boolean): void {
    this.#serviceFilter = (serviceUuids ?? []).map(normUuid);
    this.#scanning = true;
    setImmediate(() => {
      this.emit('scanStart', false);
      for (const p of this.world.peripherals) if (p.reachable) this.#discover(p);
    });
  }

  stopScanning(): void {
    this.#scanning = false;
    setImmediate(() => this.emit('scanStop'));
  }

  #discover(p: SimPeripheral): void {
    const adv = p.advertisement();
    if (this.#serviceFilter.length && !adv.serviceUuids.some((u) => this.#serviceFilter.includes(u))) return;
    this.emit('discover', p.id, p.address, 'public', p.spec.connectable ?? true, adv, p.rssi, true);
  }

  addressToId(address: string): string | null {
    return this.world.peripherals.find((p) => p.address === address.toLowerCase())?.id ?? null;
  }

  connect(id: string): void {
    const p = this.world.peripherals.find((x) => x.id === id);
    // An unreachable peripheral never answers: the connect hangs until cancelled, as on a radio.
    if (!p || !p.reachable) return;
    setImmediate(() => {
      if (p.connected) return this.emit('connect', id, new Error('already connected'));
      if (!(p.spec.connectable ?? true)) return this.emit('connect', id, new Error('peripheral is not connectable'));
      if (this.world.connectedCount >= this.world.maxConnections) {
        return this.emit('connect', id, new Error(`controller connection limit reached (${this.world.maxConnections})`));
      }
      this.world.connected(p);
      this.#mine.add(id);
      this.emit('connect', id, null);
    });
  }

  cancelConnect(): void {}

  disconnect(id: string): void {
    const p = this.world.peripherals.find((x) => x.id === id);
    setImmediate(() => {
      if (p?.connected) p.disconnect('local host terminated the connection');
      else this.emit('disconnect', id, 'not connected');
    });
  }

  updateRssi(id: string): void {
    this.#serve(id, (p) => this.emit('rssiUpdate', id, p.rssi, null));
  }

  discoverServices(id: string, uuids?: string[]): void {
    const wanted = (uuids ?? []).map(normUuid);
    this.#serve(id, (p) => this.emit('servicesDiscover', id, p.services.filter((s) => !wanted.length || wanted.includes(s))));
  }

  discoverIncludedServices(id: string, service: string): void {
    this.#serve(id, () => this.emit('includedServicesDiscover', id, service, []));
  }

  discoverCharacteristics(id: string, service: string, uuids?: string[]): void {
    const wanted = (uuids ?? []).map(normUuid);
    this.#serve(id, (p) => {
      const list = p.characteristics
        .filter((c) => c.service === service && (!wanted.length || wanted.includes(c.uuid)))
        .map((c) => ({ uuid: c.uuid, properties: c.properties }));
      this.emit('characteristicsDiscover', id, service, list);
    });
  }

  discoverDescriptors(id: string, service: string, characteristic: string): void {
    this.#serve(id, () => this.emit('descriptorsDiscover', id, service, characteristic, []));
  }

  read(id: string, service: string, uuid: string): void {
    this.#serve(id, (p) => {
      const c = p.characteristic(uuid, service);
      if (!c) return this.emit('read', id, service, uuid, Buffer.alloc(0), false, new Error(`no characteristic ${uuid} in service ${service}`));
      if (!c.properties.includes('read')) return this.emit('read', id, service, uuid, Buffer.alloc(0), false, new Error('ATT error: read not permitted (0x02)'));
      this.emit('read', id, service, uuid, Buffer.from(c.value), false);
    });
  }

  write(id: string, service: string, uuid: string, data: Buffer, withoutResponse: boolean): void {
    this.#serve(id, (p) => {
      const c = p.characteristic(uuid, service);
      if (!c) return this.emit('write', id, service, uuid, new Error(`no characteristic ${uuid} in service ${service}`));
      const allowed = withoutResponse ? c.properties.includes('writeWithoutResponse') : c.properties.includes('write');
      if (!allowed) return this.emit('write', id, service, uuid, new Error('ATT error: write not permitted (0x03)'));
      p.writes.push({ uuid, data: Buffer.from(data), withoutResponse });
      c.value = Buffer.from(data);
      this.emit('write', id, service, uuid, null);
    });
  }

  notify(id: string, service: string, uuid: string, enable: boolean): void {
    this.#serve(id, (p) => {
      const c = p.characteristic(uuid, service);
      if (!c) return this.emit('notify', id, service, uuid, false, new Error(`no characteristic ${uuid} in service ${service}`));
      if (!c.properties.includes('notify') && !c.properties.includes('indicate')) {
        return this.emit('notify', id, service, uuid, false, new Error('characteristic supports neither notify nor indicate'));
      }
      if (enable) {
        p.subscriptions.add(c.uuid);
        p.subscribes++;
      } else p.subscriptions.delete(c.uuid);
      this.emit('notify', id, service, uuid, enable);
    });
  }

  /**
   * Answer a GATT request on the next tick, if the link still stands then. A request on a link
   * that dropped gets no answer, as on a radio: noble already failed the waiting call when it
   * saw the disconnect, and has forgotten the peripheral's services.
   */
  #serve(id: string, answer: (p: SimPeripheral) => void): void {
    setImmediate(() => {
      const p = this.world.peripherals.find((x) => x.id === id && x.connected);
      if (p && this.#mine.has(id)) answer(p);
    });
  }
}
