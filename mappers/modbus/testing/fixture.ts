// Known register contents for every data type in every order, written here without the SDK codec
// (Buffer's big-endian writers and plain byte permutations), so tests check the codec against an
// independent statement of what the wire holds.

import type { DeviceSpecResolved } from '../../../core/device.ts';
import type { ConfigData } from '../../../core/model/types.ts';
import { makeDevice } from '../../sdk/testing.ts';
import type { PropertyType, PropertyValue } from '../../../core/values.ts';

export type Table = 'hr' | 'ir' | 'co' | 'di';
/** Sparse tables per unit id: address -> 16-bit word (or 0/1 for bits). */
export type RegisterImage = Record<number, Partial<Record<Table, Record<number, number>>>>;

export interface FixtureCase {
  name: string;
  type: PropertyType;
  table: Table;
  visitor: ConfigData;
  /** Words (or bits) at visitor.offset holding `expect`. */
  words: number[];
  expect: PropertyValue;
  /** For writable cases: a value to write and the words the device must then hold. */
  write?: { value: PropertyValue; words: number[] };
}

const ORDERS = ['ABCD', 'CDAB', 'BADC', 'DCBA'] as const;
type Order = (typeof ORDERS)[number];

function permute(be: Buffer, order: Order): Buffer {
  const out = Buffer.from(be);
  if (order === 'BADC') for (let i = 0; i < out.length; i += 2) [out[i], out[i + 1]] = [be[i + 1]!, be[i]!];
  if (order === 'CDAB') for (let w = 0; w < out.length / 2; w++) be.copy(out, w * 2, out.length - 2 - w * 2, out.length - w * 2);
  if (order === 'DCBA') out.reverse();
  return out;
}

function words(bytes: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i += 2) out.push(bytes.readUInt16BE(i));
  return out;
}

const WRITERS: Record<string, [number, (b: Buffer, v: PropertyValue) => void]> = {
  int16: [2, (b, v) => b.writeInt16BE(Number(v))],
  uint16: [2, (b, v) => b.writeUInt16BE(Number(v))],
  int32: [4, (b, v) => b.writeInt32BE(Number(v))],
  uint32: [4, (b, v) => b.writeUInt32BE(Number(v))],
  int64: [8, (b, v) => b.writeBigInt64BE(BigInt(v as number))],
  uint64: [8, (b, v) => b.writeBigUInt64BE(BigInt(v as number))],
  float32: [4, (b, v) => b.writeFloatBE(Number(v))],
  float64: [8, (b, v) => b.writeDoubleBE(Number(v))],
};

export function wireWords(type: string, value: PropertyValue, order: Order = 'ABCD'): number[] {
  const [size, write] = WRITERS[type]!;
  const b = Buffer.alloc(size);
  write(b, value);
  return words(permute(b, order));
}

function text(s: string, registers: number, order: Order = 'ABCD'): number[] {
  const b = Buffer.alloc(registers * 2);
  b.write(s, 'latin1');
  return words(permute(b, order));
}

const SAMPLES: Record<string, { type: PropertyType; read: PropertyValue; write: PropertyValue }> = {
  int16: { type: 'int', read: -1234, write: -321 },
  uint16: { type: 'int', read: 54321, write: 4321 },
  int32: { type: 'int', read: -123456789, write: 987654 },
  uint32: { type: 'int', read: 3000000000, write: 4000000000 },
  int64: { type: 'int', read: -1234567890123, write: 42 },
  uint64: { type: 'int', read: 12345678901234567n, write: 9007199254740993n },
  float32: { type: 'double', read: 229.5, write: -12.25 },
  float64: { type: 'double', read: 3.14159265358979, write: 0.0025 },
};

/** Every case of the fixture, laid out from holding register 0 upwards without gaps. */
export function fixtureCases(): FixtureCase[] {
  const cases: FixtureCase[] = [];
  let hr = 0;
  const holding = (c: Omit<FixtureCase, 'table' | 'visitor'> & { visitor: Omit<ConfigData, 'register' | 'offset'> }) => {
    cases.push({ ...c, table: 'hr', visitor: { register: 'HoldingRegister', offset: hr, ...c.visitor } });
    hr += c.words.length;
  };
  for (const [type, s] of Object.entries(SAMPLES)) {
    for (const order of ORDERS) {
      holding({ name: `${type}-${order.toLowerCase()}`, type: s.type, visitor: { dataType: type, order }, words: wireWords(type, s.read, order), expect: s.read,
        write: { value: s.write, words: wireWords(type, s.write, order) } });
    }
  }
  // KubeEdge's own fields, with the meanings of the dataType/limit table.
  holding({ name: 'ke-int-limit1', type: 'int', visitor: { dataType: 'int', limit: 1 }, words: [500], expect: 500, write: { value: 501, words: [501] } });
  holding({ name: 'ke-int-limit2-regswap', type: 'int', visitor: { dataType: 'int', limit: 2, isRegisterSwap: true }, words: wireWords('uint32', 70000, 'CDAB'), expect: 70000,
    write: { value: 80000, words: wireWords('uint32', 80000, 'CDAB') } });
  holding({ name: 'ke-float-limit1-scale', type: 'float', visitor: { dataType: 'float', limit: 1, scale: 0.1 }, words: [235], expect: 23.5, write: { value: 24.7, words: [247] } });
  holding({ name: 'ke-float-limit2-swaps', type: 'float', visitor: { dataType: 'float', limit: 2, isSwap: true, isRegisterSwap: true }, words: wireWords('float32', 229, 'DCBA'), expect: 229,
    write: { value: 230.5, words: wireWords('float32', 230.5, 'DCBA') } });
  holding({ name: 'ke-double-limit4-byteswap', type: 'double', visitor: { dataType: 'double', limit: 4, isSwap: true }, words: wireWords('float64', -0.5, 'BADC'), expect: -0.5 });
  holding({ name: 'ke-boolean', type: 'boolean', visitor: { dataType: 'boolean', limit: 1 }, words: [1], expect: true, write: { value: false, words: [0] } });
  holding({ name: 'ke-string', type: 'string', visitor: { dataType: 'string', limit: 4 }, words: text('PLC-01', 4), expect: 'PLC-01', write: { value: 'AB', words: text('AB', 4) } });
  holding({ name: 'string-badc', type: 'string', visitor: { dataType: 'string', limit: 2, order: 'BADC' }, words: text('WXYZ', 2, 'BADC'), expect: 'WXYZ' });
  holding({ name: 'bit-3', type: 'boolean', visitor: { dataType: 'bit', bitIndex: 3 }, words: [0b1000_0000_1000], expect: true });
  holding({ name: 'bit-4', type: 'boolean', visitor: { dataType: 'bit', bitIndex: 4 }, words: [0b1000_0000_1000], expect: false, write: { value: true, words: [0b1000_0001_1000] } });
  holding({ name: 'scaled-offset', type: 'double', visitor: { dataType: 'int16', scale: 0.01, valueOffset: -40 }, words: [6540], expect: 25.4, write: { value: 30, words: [7000] } });
  cases.push({ name: 'input-int16', type: 'int', table: 'ir', visitor: { register: 'InputRegister', offset: 7, dataType: 'int16' }, words: [0xfffb], expect: -5 });
  cases.push({ name: 'coil-on', type: 'boolean', table: 'co', visitor: { register: 'CoilRegister', offset: 0 }, words: [1], expect: true });
  cases.push({ name: 'coil-int', type: 'int', table: 'co', visitor: { register: 'CoilRegister', offset: 1, dataType: 'int' }, words: [0], expect: 0, write: { value: 1, words: [1] } });
  cases.push({ name: 'discrete-3', type: 'boolean', table: 'di', visitor: { register: 'DiscreteInputRegister', offset: 3, dataType: 'boolean' }, words: [1], expect: true });
  return cases;
}

/** The register image holding every case, for one unit id. */
export function fixtureImage(unit = 1, cases = fixtureCases()): RegisterImage {
  const tables: Partial<Record<Table, Record<number, number>>> = { hr: {}, ir: {}, co: {}, di: {} };
  for (const c of cases) c.words.forEach((w, i) => (tables[c.table]![Number(c.visitor.offset) + i] = w));
  return { [unit]: tables };
}

/** A device (as core/model would resolve it) with every case as a property. */
export function fixtureDevice(name: string, config: ConfigData, cases = fixtureCases(), collectCycle = 100): DeviceSpecResolved {
  return makeDevice({
    name,
    protocol: 'modbus',
    config,
    properties: cases.map((c) => ({ name: c.name, type: c.type, accessMode: c.write ? 'ReadWrite' : 'ReadOnly', visitor: c.visitor, collectCycle })),
  });
}
