// A stable hash of a resolved device, so a reload restarts only the devices that changed.
// Source positions are left out: moving a device within its file, or editing a comment
// above it, changes nothing the device does. Desired values are left out too: a new desired
// value reaches the device through the twin's reconcile, with no need to reconnect it.

import { createHash } from 'node:crypto';
import type { DeviceSpecResolved } from '../device.ts';

export function fingerprint(device: Omit<DeviceSpecResolved, 'fingerprint'> & { fingerprint?: string }): string {
  const { source: _device, fingerprint: _previous, ...rest } = device;
  const properties = device.properties.map(({ source: _property, desired: _desired, ...p }) => p);
  return createHash('sha256').update(canonicalJson({ ...rest, properties })).digest('hex');
}

/** JSON with sorted keys; bigints and bytes get tagged forms so they never collide with strings. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(canonical(value));
}

function canonical(value: unknown): unknown {
  if (typeof value === 'bigint') return { $bigint: value.toString() };
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString('hex') };
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = canonical(v);
    }
    return out;
  }
  return value;
}
