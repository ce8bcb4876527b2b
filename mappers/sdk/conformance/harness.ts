// Test helpers for drivers and the runtime: a recording sink, a device builder, a condition
// waiter and a resource snapshot. Public, so a driver's own tests can use them too.

import { createHash } from 'node:crypto';
import type { DeviceSpecResolved, PropertySpec } from '../../../core/device.ts';
import type { ConfigData } from '../../../core/model/types.ts';
import type { DeviceState, Reading, ReadingSink } from '../../../core/reading.ts';
import type { PropertyType } from '../../../core/values.ts';
import { waitFor as waitUntil } from '../../../core/testing.ts';

/** A ReadingSink that records everything, for assertions. */
export class RecordingSink implements ReadingSink {
  readonly readings: Reading[] = [];
  readonly states: { device: string; state: DeviceState; reason?: string }[] = [];
  /** Readings and states in the order they arrived. */
  readonly events: ({ kind: 'reading'; reading: Reading } | { kind: 'state'; device: string; state: DeviceState; reason?: string })[] = [];

  report(readings: readonly Reading[]): void {
    this.readings.push(...readings);
    for (const reading of readings) this.events.push({ kind: 'reading', reading });
  }

  state(device: string, state: DeviceState, reason?: string): void {
    this.states.push({ device, state, reason });
    this.events.push({ kind: 'state', device, state, reason });
  }

  lastState(device: string): DeviceState | undefined {
    return this.states.filter((s) => s.device === device).at(-1)?.state;
  }

  latest(device: string, property: string): Reading | undefined {
    return this.readings.filter((r) => r.device === device && r.property === property).at(-1);
  }
}

export interface PropertyInput {
  name: string;
  type: PropertyType;
  accessMode?: 'ReadWrite' | 'ReadOnly';
  visitor?: ConfigData;
  collectCycle?: number;
  reportCycle?: number;
  deadband?: number;
}

/** A resolved device as core/model would produce it, for tests that start below the loader. */
export function makeDevice(input: { name: string; namespace?: string; protocol: string; config?: ConfigData; properties: PropertyInput[]; file?: string }): DeviceSpecResolved {
  const namespace = input.namespace ?? 'default';
  const file = input.file ?? 'test/devices.yaml';
  const properties: PropertySpec[] = input.properties.map((p, i) => ({
    name: p.name,
    type: p.type,
    accessMode: p.accessMode ?? 'ReadOnly',
    collectCycle: p.collectCycle ?? 100,
    reportCycle: p.reportCycle ?? 0,
    reportToCloud: false,
    deadband: p.deadband,
    reconcile: 'once',
    visitor: p.visitor ?? {},
    source: { file, line: 10 + i * 5 },
  }));
  const base = { id: `${namespace}/${input.name}`, namespace, name: input.name, model: `${input.name}-model`, protocol: input.protocol, protocolConfig: input.config ?? {}, properties, methods: [], source: { file, line: 1 } };
  const fingerprint = createHash('sha256').update(JSON.stringify(base)).digest('hex').slice(0, 16);
  return { ...base, fingerprint };
}

/** Poll `condition` until it holds; fail naming what was awaited. The timeout is generous on purpose. */
export function waitFor<T>(condition: () => T | undefined | false, what: string, timeoutMs = 20_000): Promise<T> {
  return waitUntil(what, condition, timeoutMs);
}

/** Count of each kind of active handle (TCPSocketWrap, Timeout, ...). */
export function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}

/** Kinds of handle that grew between two snapshots, e.g. ["Timeout +1"]. */
export function leakedResources(before: Map<string, number>, after: Map<string, number>): string[] {
  return [...after].filter(([kind, n]) => n > (before.get(kind) ?? 0)).map(([kind, n]) => `${kind} +${n - (before.get(kind) ?? 0)}`);
}
