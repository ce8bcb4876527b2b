// KubeEdge's Modbus configData as users write it, plus edgetwin's extensions (inside configData),
// turned into what the wire needs: a register table, an address, a count and a codec.

import type { CodecSpec, CodecType, ByteOrder, DeviceBinding, JsonSchema, PropertyBinding, SerialSettings } from '../sdk/index.ts';

export type RegisterTable = 'CoilRegister' | 'DiscreteInputRegister' | 'HoldingRegister' | 'InputRegister';

export interface ModbusProtocol {
  slaveID?: number;
  communicateMode?: 'TCP' | 'RTU';
  ip?: string;
  port?: string | number;
  /** Milliseconds per request. */
  timeout?: number;
  serialName?: string;
  baudRate?: number;
  dataBits?: 5 | 6 | 7 | 8;
  stopBits?: 1 | 2;
  parity?: string;
  rs485Enabled?: boolean;
  maxRegistersPerRequest?: number;
  maxGapRegisters?: number;
  coalesce?: boolean;
  maxInFlight?: number;
}

export interface ModbusVisitor {
  register: RegisterTable;
  offset: number;
  limit?: number;
  dataType?: string;
  scale?: number;
  valueOffset?: number;
  isSwap?: boolean;
  isRegisterSwap?: boolean;
  order?: ByteOrder;
  bitIndex?: number;
}

export const TABLES: Record<RegisterTable, { fc: 1 | 2 | 3 | 4; bits: boolean; writable: boolean }> = {
  CoilRegister: { fc: 1, bits: true, writable: true },
  DiscreteInputRegister: { fc: 2, bits: true, writable: false },
  HoldingRegister: { fc: 3, bits: false, writable: true },
  InputRegister: { fc: 4, bits: false, writable: false },
};

/** The PDU limits of the specification: registers per FC3/FC4 read, bits per FC1/FC2 read. */
export const MAX_REGISTERS = 125;
export const MAX_BITS = 2000;
export const DEFAULT_MAX_GAP = 10;

const KUBEEDGE_TYPES = ['int', 'float', 'double', 'boolean', 'string', 'bytes'] as const;
const WIRE_TYPES = ['int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64', 'string', 'bit'] as const;
const WIRE_WIDTH: Record<string, number> = { int16: 1, uint16: 1, int32: 2, uint32: 2, int64: 4, uint64: 4, float32: 2, float64: 4 };

export const protocolSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    slaveID: { type: 'integer', minimum: 0, maximum: 255, default: 1 },
    communicateMode: { type: 'string', enum: ['TCP', 'RTU', 'tcp', 'rtu'], default: 'TCP' },
    ip: { type: 'string', minLength: 1 },
    port: { anyOf: [{ type: 'integer', minimum: 1, maximum: 65535 }, { type: 'string', pattern: '^[0-9]{1,5}$' }] },
    timeout: { type: 'number', exclusiveMinimum: 0 },
    serialName: { type: 'string', minLength: 1 },
    baudRate: { type: 'integer', minimum: 50 },
    dataBits: { type: 'integer', enum: [5, 6, 7, 8] },
    stopBits: { type: 'number', enum: [1, 2] },
    parity: { type: 'string', enum: ['N', 'E', 'O', 'none', 'even', 'odd', 'None', 'Even', 'Odd'] },
    rs485Enabled: { type: 'boolean' },
    maxRegistersPerRequest: { type: 'integer', minimum: 1, maximum: MAX_BITS },
    maxGapRegisters: { type: 'integer', minimum: 0, maximum: MAX_BITS },
    coalesce: { type: 'boolean' },
    maxInFlight: { type: 'integer', minimum: 1, maximum: 64 },
  },
};

export const visitorSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['register', 'offset'],
  properties: {
    register: { type: 'string', enum: Object.keys(TABLES) },
    offset: { type: 'integer', minimum: 0, maximum: 65535 },
    limit: { type: 'integer', minimum: 1, maximum: MAX_REGISTERS },
    dataType: { type: 'string', enum: [...new Set([...KUBEEDGE_TYPES, ...WIRE_TYPES])] },
    scale: { type: 'number' },
    valueOffset: { type: 'number' },
    isSwap: { type: 'boolean' },
    isRegisterSwap: { type: 'boolean' },
    order: { type: 'string', enum: ['ABCD', 'CDAB', 'BADC', 'DCBA'] },
    bitIndex: { type: 'integer', minimum: 0 },
  },
};

/** "an InputRegister", "a CoilRegister". */
export function article(table: string): string {
  return `${/^[AEIOU]/.test(table) ? 'an' : 'a'} ${table}`;
}

export function isRtu(config: ModbusProtocol): boolean {
  return (config.communicateMode ?? 'TCP').toUpperCase() === 'RTU';
}

export function unitOf(config: ModbusProtocol): number {
  return config.slaveID ?? 1;
}

export function tcpEndpoint(config: ModbusProtocol): { host: string; port: number } {
  return { host: config.ip ?? '127.0.0.1', port: Number(config.port ?? 502) };
}

const PARITY: Record<string, SerialSettings['parity']> = { n: 'none', none: 'none', e: 'even', even: 'even', o: 'odd', odd: 'odd' };

export function serialSettings(config: ModbusProtocol): SerialSettings | undefined {
  if (!isRtu(config) || !config.serialName) return undefined;
  return {
    path: config.serialName,
    baudRate: config.baudRate ?? 19200,
    dataBits: config.dataBits ?? 8,
    stopBits: config.stopBits ?? 1,
    parity: PARITY[(config.parity ?? 'E').toLowerCase()] ?? 'even',
    rs485: config.rs485Enabled ?? false,
  };
}

/** Where a property lives on the wire and how its bytes decode. */
export interface RegisterMap {
  table: RegisterTable;
  address: number;
  /** Registers (FC3/FC4) or bits (FC1/FC2). */
  count: number;
  codec: CodecSpec;
}

function orderOf(v: ModbusVisitor): ByteOrder {
  if (v.order) return v.order;
  if (v.isSwap && v.isRegisterSwap) return 'DCBA';
  if (v.isSwap) return 'BADC';
  if (v.isRegisterSwap) return 'CDAB';
  return 'ABCD';
}

/**
 * dataType and limit to a codec, per the table in docs/modbus.md (KubeEdge's demo and mappers-go
 * readings at once). Returns a message naming the field when the pair makes no sense.
 */
export function registerMap(v: ModbusVisitor): RegisterMap | { field: string; message: string } {
  const table = TABLES[v.register];
  const dataType = v.dataType ?? (table.bits ? 'boolean' : 'int');
  const scaling = { scale: v.scale, valueOffset: v.valueOffset };
  if (v.order && (v.isSwap !== undefined || v.isRegisterSwap !== undefined)) {
    return { field: 'order', message: 'order cannot be combined with isSwap/isRegisterSwap: use order alone (BADC swaps bytes, CDAB swaps registers, DCBA both)' };
  }
  if (table.bits) {
    if (v.bitIndex !== undefined) return { field: 'bitIndex', message: `bitIndex applies to registers; ${article(v.register)} is already one bit` };
    if ((v.limit ?? 1) !== 1) return { field: 'limit', message: `limit must be 1 on ${article(v.register)} (one bit per property)` };
    if (v.order || v.isSwap || v.isRegisterSwap) return { field: v.order ? 'order' : v.isSwap ? 'isSwap' : 'isRegisterSwap', message: `byte order has no meaning for ${article(v.register)} bit` };
    if (dataType === 'boolean' || dataType === 'bit') return { table: v.register, address: v.offset, count: 1, codec: { type: 'bool', length: 1 } };
    if (dataType === 'int' || dataType === 'float' || dataType === 'double' || dataType === 'uint16' || dataType === 'int16') {
      return { table: v.register, address: v.offset, count: 1, codec: { type: 'uint8', ...scaling } };
    }
    return { field: 'dataType', message: `dataType ${dataType} cannot be read from ${article(v.register)} (use boolean or int)` };
  }
  const order = orderOf(v);
  const width = WIRE_WIDTH[dataType];
  if (width !== undefined) {
    if (v.limit !== undefined && v.limit !== width) return { field: 'limit', message: `limit ${v.limit} does not fit dataType ${dataType}, which takes ${width} register${width > 1 ? 's' : ''} (drop limit or set it to ${width})` };
    if (v.bitIndex !== undefined) return { field: 'bitIndex', message: 'bitIndex needs dataType bit' };
    return { table: v.register, address: v.offset, count: width, codec: { type: dataType as CodecType, order, ...scaling } };
  }
  const limit = v.limit ?? 1;
  if (dataType === 'bit') {
    if (v.bitIndex === undefined) return { field: 'bitIndex', message: 'dataType bit needs bitIndex (0 = least significant bit)' };
    if (limit > 2) return { field: 'limit', message: 'dataType bit reads 1 or 2 registers' };
    if (v.bitIndex >= limit * 16) return { field: 'bitIndex', message: `bitIndex ${v.bitIndex} is beyond the ${limit * 16} bits of ${limit} register${limit > 1 ? 's' : ''}` };
    return { table: v.register, address: v.offset, count: limit, codec: { type: 'bit', bitIndex: v.bitIndex, length: limit * 2, order } };
  }
  if (v.bitIndex !== undefined) return { field: 'bitIndex', message: 'bitIndex needs dataType bit' };
  if (dataType === 'string' || dataType === 'bytes') {
    return { table: v.register, address: v.offset, count: limit, codec: { type: dataType, length: limit * 2, order } };
  }
  if (dataType === 'boolean') {
    if (limit !== 1) return { field: 'limit', message: 'dataType boolean reads one register (limit 1): non-zero is true' };
    return { table: v.register, address: v.offset, count: 1, codec: { type: 'bool', length: 2 } };
  }
  const byLimit: Record<string, Record<number, CodecType>> = {
    int: { 1: 'uint16', 2: 'uint32', 4: 'uint64' },
    float: { 1: 'uint16', 2: 'float32', 4: 'float64' },
    double: { 1: 'uint16', 2: 'float32', 4: 'float64' },
  };
  const type = byLimit[dataType]?.[limit];
  if (!type) return { field: 'limit', message: `limit ${limit} does not fit dataType ${dataType} (use 1, 2 or 4, or an explicit wire type such as int32)` };
  return { table: v.register, address: v.offset, count: limit, codec: { type, order, ...scaling } };
}

export function isRegisterMap(m: ReturnType<typeof registerMap>): m is RegisterMap {
  return 'table' in m;
}

type Problem = { property?: string; path: string; message: string };

/** Cross-field rules the schemas cannot say, each naming its property and field. */
export function checkDevice(device: DeviceBinding<ModbusProtocol, ModbusVisitor>): Problem[] {
  const problems: Problem[] = [];
  const c = device.config;
  if (isRtu(c)) {
    if (!c.serialName) problems.push({ path: 'serialName', message: 'communicateMode RTU needs serialName (e.g. /dev/ttyUSB0)' });
    if (c.maxInFlight !== undefined && c.maxInFlight > 1) problems.push({ path: 'maxInFlight', message: 'an RTU bus carries one request at a time: maxInFlight must be 1' });
  } else if (!c.ip) {
    problems.push({ path: 'ip', message: 'communicateMode TCP needs ip (the PLC or gateway address)' });
  }
  for (const p of device.properties) {
    const m = registerMap(p.visitor);
    if (!isRegisterMap(m)) {
      problems.push({ property: p.name, path: m.field, message: m.message });
      continue;
    }
    if (m.address + m.count > 65536) problems.push({ property: p.name, path: 'offset', message: `offset ${m.address} + ${m.count} runs past address 65535` });
    if (!TABLES[m.table].writable && p.spec.desired !== undefined) {
      problems.push({ property: p.name, path: 'register', message: `a desired value is set but ${article(m.table)} cannot be written (use HoldingRegister or CoilRegister, or remove desired)` });
    }
  }
  return problems;
}

export function mapOf(p: PropertyBinding<ModbusVisitor>): RegisterMap {
  const m = registerMap(p.visitor);
  if (!isRegisterMap(m)) throw new Error(`property ${p.name}: ${m.message}`);
  return m;
}
