// Where noble comes from: the real HCI binding (a Bluetooth adapter on this machine) or a
// simulated world behind noble's binding seam. noble itself loads here, lazily, on the first BLE
// device or command; its package entry point is avoided on purpose, because importing it builds
// a default HCI instance as a side effect.

import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import type { Noble } from '@stoprocent/noble';
import { SimBindings } from './sim/bindings.ts';
import { SimWorld } from './sim/world.ts';

export type BleBinding = { kind: 'hci' } | { kind: 'sim'; file: string } | { kind: 'sim'; world: SimWorld };

/** `hci` (the default: a real adapter) or `sim:<file>` (a simulated BLE world described in a file). */
export function parseBinding(text: string): BleBinding {
  if (text === 'hci') return { kind: 'hci' };
  if (text.startsWith('sim:') && text.length > 4) return { kind: 'sim', file: resolve(text.slice(4)) };
  throw new Error(`unknown BLE binding "${text}": use hci (a real adapter) or sim:<file> (a simulated BLE world)`);
}

export function describeBinding(b: BleBinding): string {
  if (b.kind === 'hci') return 'HCI socket';
  return `simulated BLE world (${'file' in b ? b.file : b.world.source})`;
}

const require = createRequire(import.meta.url);
const worlds = new Map<string, SimWorld>();

/** The simulated world of a binding; one per file per process, so every device sees the same world. */
export function simWorld(b: Extract<BleBinding, { kind: 'sim' }>): SimWorld {
  if ('world' in b) return b.world;
  let w = worlds.get(b.file);
  if (!w) {
    w = SimWorld.fromFile(b.file);
    worlds.set(b.file, w);
  }
  return w;
}

/** `hci0` -> 0; the adapter index the HCI binding opens. */
function deviceId(adapter: string): number {
  const m = /^hci(\d+)$/.exec(adapter);
  if (!m) throw new Error(`adapter "${adapter}" is not an HCI device name (hci0, hci1, ...)`);
  return Number(m[1]);
}

export function createNoble(binding: BleBinding, adapter: string): Noble {
  if (binding.kind === 'sim') {
    const NobleClass = require('@stoprocent/noble/lib/noble.js') as new (bindings: unknown) => Noble;
    return new NobleClass(new SimBindings(simWorld(binding)));
  }
  const withBindings = require('@stoprocent/noble/lib/resolve-bindings.js') as (type: string, options: object) => Noble;
  const noble = withBindings('hci', { deviceId: deviceId(adapter) });
  quietHci(noble);
  return noble;
}

/**
 * The HCI binding prints advice on stdout when the adapter is missing and installs a SIGINT
 * handler that exits the process. edgetwin reports a missing adapter itself, as an error value,
 * and owns shutdown; so both are taken back once the binding starts.
 */
function quietHci(noble: Noble): void {
  const bindings = (noble as unknown as { _bindings: { onStateChange: (s: string) => void; start: () => void; _sigIntHandler?: () => void } })._bindings;
  const onStateChange = bindings.onStateChange;
  bindings.onStateChange = function quiet(this: unknown, state: string) {
    const log = console.log;
    console.log = () => undefined;
    try {
      onStateChange.call(this, state);
    } finally {
      console.log = log;
    }
  };
  const start = bindings.start;
  bindings.start = function started(this: typeof bindings) {
    start.call(this);
    if (this._sigIntHandler) process.removeListener('SIGINT', this._sigIntHandler);
  };
}
