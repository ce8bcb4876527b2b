// The bench's devices: the committed register map (100 properties), 10 unit ids on each of 10
// endpoints, what the simulator holds at every address, and the fewest requests that can read a
// device under a given maxGapRegisters (computed here by dynamic programming, independently of the
// driver's greedy planner, so "requests per cycle equal to the minimum" is checked, not assumed).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DeviceSpecResolved } from '../../core/device.ts';
import type { ConfigData } from '../../core/model/types.ts';
import type { PropertyType } from '../../core/values.ts';
import { makeDevice } from '../../mappers/sdk/testing.ts';

export interface MapProperty {
  name: string;
  type: PropertyType;
  visitor: { register: string; offset: number; dataType?: string; order?: string; bitIndex?: number; limit?: number };
}

// The bench runs bundled copies of its processes from a temporary directory; they find the map by this variable.
const MAP_FILE = process.env.EDGETWIN_BENCH_MODBUS_MAP ?? join(import.meta.dirname, 'register-map.json');
export const MAP: MapProperty[] = (JSON.parse(readFileSync(MAP_FILE, 'utf8')) as { properties: MapProperty[] }).properties;
export const UNITS_PER_ENDPOINT = 10;
export const TABLE_INDEX: Record<string, number> = { CoilRegister: 0, DiscreteInputRegister: 1, HoldingRegister: 2, InputRegister: 3 };
const FC_TABLE = ['CoilRegister', 'DiscreteInputRegister', 'HoldingRegister', 'InputRegister'];

/** What the simulator holds: a register word, or a bit, per unit, table (by function code) and address. */
export function wordAt(unit: number, fc: number, address: number): number {
  // Bits 14 and 6 clear: whatever the order, no float exponent is all ones, so no NaN or Infinity.
  return (unit * 7919 + address * 31 + fc * 1000) & 0xbfbf;
}
export function bitAt(unit: number, fc: number, address: number): boolean {
  return (unit + address + fc) % 3 === 0;
}

const WIDTH: Record<string, number> = { uint16: 1, int16: 1, bit: 1, int32: 2, uint32: 2, float32: 2, int64: 4, uint64: 4, float64: 4 };

export function registersOf(p: MapProperty): number {
  if (p.visitor.register === 'CoilRegister' || p.visitor.register === 'DiscreteInputRegister') return 1;
  return p.visitor.limit ?? WIDTH[p.visitor.dataType ?? 'uint16']!;
}

/** The value a property must read, for the types a check can state without the codec (16-bit and bits). */
export function expectedValue(unit: number, p: MapProperty): number | boolean | undefined {
  const fc = TABLE_INDEX[p.visitor.register]! + 1;
  if (fc <= 2) return bitAt(unit, fc, p.visitor.offset);
  const w = wordAt(unit, fc, p.visitor.offset);
  if (p.visitor.dataType === 'uint16') return w;
  if (p.visitor.dataType === 'int16') return w >= 0x8000 ? w - 0x10000 : w;
  if (p.visitor.dataType === 'bit') return ((w >> p.visitor.bitIndex!) & 1) === 1;
  return undefined;
}

export function devices(ports: number[], config: ConfigData, collectCycle: number): DeviceSpecResolved[] {
  return ports.flatMap((port, e) => Array.from({ length: UNITS_PER_ENDPOINT }, (_, u) => makeDevice({
    name: `plc-${e}-${u + 1}`,
    protocol: 'modbus',
    config: { ip: '127.0.0.1', port, slaveID: u + 1, communicateMode: 'TCP', timeout: 5000, ...config },
    properties: MAP.map((p) => ({ name: p.name, type: p.type, visitor: p.visitor, collectCycle, reportCycle: 0 })),
  })));
}

/** Fewest requests for one device: per table, contiguous groups of the sorted ranges, each within the PDU limit and bridging gaps <= maxGap. */
export function minimumRequests(maxGap: number): number {
  let total = 0;
  for (const table of FC_TABLE) {
    const limit = table === 'CoilRegister' || table === 'DiscreteInputRegister' ? 2000 : 125;
    const ranges = MAP.filter((p) => p.visitor.register === table).map((p) => [p.visitor.offset, p.visitor.offset + registersOf(p)] as const).sort((a, b) => a[0] - b[0]);
    const best = new Array<number>(ranges.length + 1).fill(Infinity);
    best[0] = 0;
    for (let j = 1; j <= ranges.length; j++) {
      for (let i = j; i >= 1; i--) {
        // Is ranges i..j (1-based) one valid request? Every gap within it <= maxGap, span <= limit.
        let reach = ranges[i - 1]![1];
        let valid = true;
        for (let k = i; k < j && valid; k++) {
          if (ranges[k]![0] - reach > maxGap) valid = false;
          reach = Math.max(reach, ranges[k]![1]);
        }
        if (!valid || reach - ranges[i - 1]![0] > limit) break;
        best[j] = Math.min(best[j]!, best[i - 1]! + 1);
      }
    }
    total += best[ranges.length]!;
  }
  return total;
}
