// One Bluetooth adapter as every BLE device on it shares it: its power state, one scan that runs
// while anyone listens for advertisements, and its connection slots. A controller holds only a
// few connections and creates one at a time, so connects queue here for a free slot instead of
// failing at random in the radio.

import type { Noble, Peripheral } from '@stoprocent/noble';
import { codedError } from '../sdk/index.ts';
import { normAddress } from './ids.ts';
import { IoCodes } from '../../core/errors.ts';

/** The adapter is missing, off or refused: the BLE devices go offline with this, nothing else does. */
export function noAdapter(adapter: string, state: string, binding: string): Error {
  const why: Record<string, string> = {
    unsupported: `no Bluetooth adapter: ${adapter} is not present or does not support Bluetooth Low Energy (${binding})`,
    unauthorized: `Bluetooth adapter ${adapter} refused access (${binding}): run as root, or give node CAP_NET_RAW and CAP_NET_ADMIN (setcap)`,
    poweredOff: `Bluetooth adapter ${adapter} is powered off (${binding}): power it on (bluetoothctl power on)`,
    unknown: `no answer from Bluetooth adapter ${adapter} (${binding})`,
  };
  const message = why[state] ?? `Bluetooth adapter ${adapter} is ${state} (${binding})`;
  return codedError(IoCodes.NO_ADAPTER, `${message}; attach an adapter, or run with --ble-binding sim:<file> to use a simulated BLE world`);
}

export interface AdapterOptions {
  name: string;
  /** How the adapter is reached, for messages: "HCI socket" or "simulated BLE world (file)". */
  binding: string;
  maxConnections: number;
  poweredOnTimeoutMs?: number;
}

interface SlotWaiter { device: string; grant: () => void }

export class BleAdapter {
  readonly #noble: Noble;
  readonly #opts: AdapterOptions;
  readonly #watchers = new Set<(p: Peripheral) => void>();
  readonly #holders = new Set<string>();
  readonly #queue: SlotWaiter[] = [];
  readonly #stateListeners = new Set<(state: string) => void>();
  #connecting: Promise<unknown> = Promise.resolve();
  #scanning = false;
  #closed = false;

  private constructor(noble: Noble, opts: AdapterOptions) {
    this.#noble = noble;
    this.#opts = opts;
    noble.on('discover', (p: Peripheral) => { for (const w of [...this.#watchers]) w(p); });
    noble.on('stateChange', (state: string) => { if (state !== 'poweredOn') for (const l of [...this.#stateListeners]) l(state); });
  }

  get name(): string {
    return this.#opts.name;
  }

  /** Power the adapter up; rejects with ENOADAPTER naming the adapter when it is missing or off. */
  static async open(noble: Noble, opts: AdapterOptions): Promise<BleAdapter> {
    const state = await new Promise<string>((resolve) => {
      const timer = setTimeout(() => { noble.removeListener('stateChange', onState); resolve(noble.state === 'poweredOn' ? 'poweredOn' : 'unknown'); }, opts.poweredOnTimeoutMs ?? 5000);
      const onState = (s: string) => {
        if (s === 'unknown' || s === 'resetting') return;
        clearTimeout(timer);
        noble.removeListener('stateChange', onState);
        resolve(s);
      };
      noble.on('stateChange', onState);
    });
    if (state !== 'poweredOn') {
      stopQuietly(noble);
      throw noAdapter(opts.name, state, opts.binding);
    }
    return new BleAdapter(noble, opts);
  }

  /** Throws ENOADAPTER when the adapter left poweredOn since it opened (unplugged, switched off). */
  assertPowered(): void {
    const state = this.#noble.state;
    if (state !== 'poweredOn') throw noAdapter(this.#opts.name, state, this.#opts.binding);
  }

  /** Called when the adapter leaves poweredOn (unplugged, switched off). Returns an unsubscribe. */
  onPowerLoss(fn: (state: string) => void): () => void {
    this.#stateListeners.add(fn);
    return () => this.#stateListeners.delete(fn);
  }

  /** Hear every advertisement while subscribed; the adapter scans while anyone listens. */
  watch(fn: (p: Peripheral) => void): () => void {
    this.#watchers.add(fn);
    void this.#rescan();
    return () => {
      this.#watchers.delete(fn);
      if (this.#watchers.size === 0 && this.#scanning && !this.#closed) {
        this.#scanning = false;
        this.#noble.stopScanningAsync().catch(() => undefined);
      }
    };
  }

  async #rescan(): Promise<void> {
    if (this.#closed || this.#watchers.size === 0) return;
    this.#scanning = true;
    await this.#noble.startScanningAsync([], true).catch(() => undefined);
  }

  /** The peripheral with this address, once it advertises. */
  find(address: string, timeoutMs: number, signal?: AbortSignal): Promise<Peripheral> {
    const wanted = normAddress(address);
    return new Promise((resolve, reject) => {
      const done = (fn: () => void) => { clearTimeout(timer); unwatch(); signal?.removeEventListener('abort', onAbort); fn(); };
      const onAbort = () => done(() => reject(signal!.reason));
      const timer = setTimeout(() => done(() => reject(codedError(IoCodes.TIMED_OUT, `${address} did not advertise within ${timeoutMs} ms: is it powered, in range, and not connected to another central?`))), timeoutMs);
      const unwatch = this.watch((p) => { if (normAddress(p.address) === wanted) done(() => resolve(p)); });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Wait for one of the adapter's connection slots, first come first served. Rejects with ESLOTS
   * naming the holders when none frees within `waitMs`. Resolves to the release function.
   */
  acquireSlot(device: string, waitMs: number, signal?: AbortSignal): Promise<() => void> {
    const release = () => {
      if (!this.#holders.delete(device)) return;
      const next = this.#queue.shift();
      next?.grant();
    };
    if (this.#holders.size < this.#opts.maxConnections && this.#queue.length === 0) {
      this.#holders.add(device);
      return Promise.resolve(release);
    }
    return new Promise((resolve, reject) => {
      const holders = [...this.#holders].join(', ');
      const leave = () => { const i = this.#queue.indexOf(waiter); if (i >= 0) this.#queue.splice(i, 1); clearTimeout(timer); signal?.removeEventListener('abort', onAbort); };
      const onAbort = () => { leave(); reject(signal!.reason); };
      const waiter: SlotWaiter = { device, grant: () => { leave(); this.#holders.add(device); resolve(release); } };
      const timer = setTimeout(() => {
        leave();
        reject(codedError(IoCodes.SLOTS, `all ${this.#opts.maxConnections} connection slots of adapter ${this.#opts.name} are taken (by ${holders}); waited ${waitMs} ms in the queue. Raise maxConnections if the controller allows more, or read these sensors by advertisement`));
      }, waitMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(waiter);
    });
  }

  /** Connect one peripheral; the controller creates one connection at a time, so connects queue. */
  connect(p: Peripheral, timeoutMs: number): Promise<void> {
    const attempt = this.#connecting.then(() => new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#noble.cancelConnect(p.id);
        reject(codedError(IoCodes.TIMED_OUT, `connecting to ${p.address} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      p.connectAsync().then(() => { clearTimeout(timer); resolve(); }, (err: Error) => { clearTimeout(timer); reject(codedError(IoCodes.CONNECTION_REFUSED, `connecting to ${p.address} failed: ${err.message}`)); });
    }));
    this.#connecting = attempt.catch(() => undefined).then(() => this.#rescan());
    return attempt;
  }

  get slotsInUse(): number {
    return this.#holders.size;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#watchers.clear();
    stopQuietly(this.#noble);
    this.#noble.removeAllListeners();
  }
}

function stopQuietly(noble: Noble): void {
  try {
    (noble as unknown as { stop(): void }).stop();
  } catch {
    // A binding that never came up has nothing to stop.
  }
}
