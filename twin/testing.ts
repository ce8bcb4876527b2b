// Test helpers for the twin: resolved devices without YAML, and a PropertyWriter double that
// records every write and answers with scripted outcomes.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DeviceId, DeviceSpecResolved, PropertySpec } from '../core/device.ts';
import type { PropertyWriter, WriteOutcome } from '../core/reading.ts';
import type { PropertyValue } from '../core/values.ts';

export function property(name: string, over: Partial<PropertySpec> = {}): PropertySpec {
  return {
    name,
    type: 'int',
    accessMode: 'ReadWrite',
    collectCycle: 1000,
    reportCycle: 0,
    reportToCloud: false,
    reconcile: 'once',
    visitor: {},
    ...over,
  };
}

export function device(name: string, properties: PropertySpec[], over: Partial<DeviceSpecResolved> = {}): DeviceSpecResolved {
  return {
    id: `${over.namespace ?? 'default'}/${name}`,
    namespace: 'default',
    name,
    model: 'test-model',
    protocol: 'virtual',
    protocolConfig: {},
    properties,
    methods: [],
    fingerprint: name,
    ...over,
  };
}

export interface WriteCall {
  device: DeviceId;
  property: string;
  value: PropertyValue;
}

/** Holds what is written (read-back = written value) unless `next` scripts another outcome. */
export class RecordingWriter implements PropertyWriter {
  readonly calls: WriteCall[] = [];
  readonly served = new Set<DeviceId>();
  private readonly scripted: WriteOutcome[] = [];
  /** Outcome used when nothing is scripted; undefined means: succeed and read back the value. */
  fallback: WriteOutcome | undefined;

  serves(device: DeviceId): boolean {
    return this.served.has(device);
  }

  /** Queues outcomes for the next writes, in order. */
  next(...outcomes: WriteOutcome[]): this {
    this.scripted.push(...outcomes);
    return this;
  }

  async write(device: DeviceId, property: string, value: PropertyValue): Promise<WriteOutcome> {
    this.calls.push({ device, property, value });
    await new Promise((r) => setImmediate(r));
    return this.scripted.shift() ?? this.fallback ?? { ok: true, readBack: value };
  }
}

export function tempDir(prefix = 'edgetwin-twin-'): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Polls until check() returns a truthy value; fails with `what` after the timeout. */
export async function waitFor<T>(what: string, check: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
