// The virtual driver: simulated devices for the quick start, the examples and tests. Each
// property follows a signal (sine, ramp, random walk, step, constant); a written property holds
// the written value like a real setpoint; faults (periodic disconnects, a read error rate) show
// what the runtime does when a device misbehaves.

import type { DeviceId } from '../../core/device.ts';
import type { FromSchema } from '../../core/schema.ts';
import type { PropertyValue } from '../../core/values.ts';
import { codedError } from '../sdk/async.ts';
import { defineDriver, SDK_VERSION, type Connection, type DeviceBinding, type PropertyBinding, type RawReading } from '../sdk/driver.ts';
import { generate, seededRandom } from './generators.ts';
import { virtualSwitch } from './switch.ts';
import { IoCodes } from '../../core/errors.ts';

/** What a simulated device remembers across reconnects, as a real one would. */
interface Memory {
  epoch: number;
  random: () => number;
  written: Map<string, PropertyValue>;
  walks: Map<string, { position?: number }>;
}

const rate = { type: 'number', minimum: 0, maximum: 1 } as const;

export const protocolSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    seed: { type: 'integer' },
    faults: {
      type: 'object',
      additionalProperties: false,
      properties: { disconnectEvery: { type: 'number', exclusiveMinimum: 0 }, errorRate: rate },
    },
    // The name of an in-process VirtualSwitch that can cut this device off (tests, demos).
    switch: { type: 'string', minLength: 1 },
  },
} as const;

/** The protocol's configData, as its schema says (a type derived from the schema, never kept beside it). */
export type VirtualProtocol = FromSchema<typeof protocolSchema>;

export const visitorSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    function: { enum: ['sine', 'ramp', 'randomWalk', 'step', 'constant'] },
    min: { type: 'number' },
    max: { type: 'number' },
    period: { type: 'number', exclusiveMinimum: 0 },
    step: { type: 'number' },
    value: { type: ['number', 'string', 'boolean'] },
    errorRate: rate,
    scale: { type: 'number' },
    valueOffset: { type: 'number' },
  },
} as const;

/** A property's visitor configData: a signal (GeneratorConfig), a per-property error rate, scale and offset. */
export type VirtualVisitor = FromSchema<typeof visitorSchema>;

function connection(device: DeviceBinding<VirtualProtocol, VirtualVisitor>, memory: Memory, lost: (err: Error) => void): Connection<VirtualVisitor> {
  const { faults, switch: switchName } = device.config;
  let closed = false;
  const cables: (() => void)[] = [];
  if (switchName) cables.push(virtualSwitch(switchName).onCut(() => lost(codedError(IoCodes.CONNECTION_RESET, `virtual switch ${switchName} was cut`))));
  if (faults?.disconnectEvery) {
    const timer = setTimeout(() => lost(codedError(IoCodes.CONNECTION_RESET, `injected disconnect (faults.disconnectEvery ${faults.disconnectEvery} s)`)), faults.disconnectEvery * 1000);
    cables.push(() => clearTimeout(timer));
  }
  const usable = () => {
    if (closed) throw codedError(IoCodes.NOT_CONNECTED, 'connection closed');
    if (switchName && !virtualSwitch(switchName).up) throw codedError(IoCodes.CONNECTION_RESET, `virtual switch ${switchName} is cut`);
  };
  const readOne = (p: PropertyBinding<VirtualVisitor>): RawReading => {
    const errorRate = p.visitor.errorRate ?? faults?.errorRate ?? 0;
    if (errorRate > 0 && memory.random() < errorRate) {
      return { property: p.name, error: { code: IoCodes.VIRTUAL_FAULT, message: `injected read error (error rate ${errorRate})` } };
    }
    const written = memory.written.get(p.name);
    if (written !== undefined) return { property: p.name, value: written };
    let walk = memory.walks.get(p.name);
    if (!walk) memory.walks.set(p.name, (walk = {}));
    return { property: p.name, value: generate(p.visitor, p.spec.type, Date.now() - memory.epoch, walk, memory.random) };
  };
  return {
    async read(request) {
      usable();
      return request.properties.map(readOne);
    },
    async write(p, { value }) {
      usable();
      memory.written.set(p.name, value);
    },
    async close() {
      closed = true;
      for (const unplug of cables.splice(0)) unplug();
    },
  };
}

/** A fresh virtual driver with its own device memories (the gateway loads one). */
export function createVirtualDriver() {
  const memories = new Map<DeviceId, Memory>();
  return defineDriver<VirtualProtocol, VirtualVisitor>({
    name: 'virtual',
    sdkVersion: `^${SDK_VERSION}`,
    protocolSchema,
    visitorSchema,
    check(device) {
      const problems: { property?: string; path: string; message: string }[] = [];
      for (const p of device.properties) {
        const { min, max } = p.visitor;
        if (min !== undefined && max !== undefined && min > max) problems.push({ property: p.name, path: 'max', message: `max (${max}) is below min (${min})` });
      }
      return problems;
    },
    async connect(device, ctx) {
      const switchName = device.config.switch;
      if (switchName && !virtualSwitch(switchName).up) throw codedError(IoCodes.CONNECTION_REFUSED, `virtual switch ${switchName} is cut`);
      let memory = memories.get(device.id);
      if (!memory) {
        memory = { epoch: Date.now(), random: seededRandom(device.config.seed ?? Math.floor(Math.random() * 2 ** 32)), written: new Map(), walks: new Map() };
        memories.set(device.id, memory);
      }
      return connection(device, memory, ctx.lost);
    },
  });
}

export const virtualDriver = createVirtualDriver();
