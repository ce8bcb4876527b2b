// What flows from mappers to the twin, and from the twin back to mappers. These small
// interfaces are where mappers and twin meet: neither imports the other; cli wires them.

import type { DeviceId } from './device.ts';
import type { PropertyValue } from './values.ts';

export type Quality = 'good' | 'uncertain' | 'bad';

export interface ReadingError {
  /** Stable code: one of IoCodes or IoCodeFamilies (core/errors.ts, docs/errors.md), or a driver package's own. */
  code: string;
  message: string;
}

export interface Reading {
  device: DeviceId;
  property: string;
  /** Absent when quality is bad and no value could be read. */
  value?: PropertyValue;
  /** Source time in ms since the epoch (the device's timestamp when the protocol has one). */
  time: number;
  quality: Quality;
  error?: ReadingError;
}

export type DeviceState = 'unknown' | 'online' | 'unhealthy' | 'offline';

/** Where mapper output goes. The twin implements it. */
export interface ReadingSink {
  /** Readings that the runtime decided to report (after deadband and reportCycle). */
  report(readings: readonly Reading[]): void;
  state(device: DeviceId, state: DeviceState, reason?: string): void;
}

export interface WriteOutcome {
  ok: boolean;
  /** The value read back after the write, when the property can be read. */
  readBack?: PropertyValue;
  error?: ReadingError;
  /** The device refused the value for good (the driver threw a permanentError): retrying the same value cannot help. */
  permanent?: boolean;
}

/**
 * How the twin asks for a desired value to reach the device. The mapper runtime implements
 * it: write through the driver with the codec in reverse, then read the property back.
 */
export interface PropertyWriter {
  /** True when a running driver serves this device (MQTT `actual` from apps is then refused). */
  serves(device: DeviceId): boolean;
  write(device: DeviceId, property: string, value: PropertyValue, signal?: AbortSignal): Promise<WriteOutcome>;
}
