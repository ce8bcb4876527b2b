// `edgetwin modbus probe`: read a few registers once and show every reading of them an engineer
// might need (16- and 32-bit integers, float32 in all four orders, text), so a known value on a
// display (229.0 V) names the data type and order at a glance.

import { BYTE_ORDERS, codedError, decode, LinkRegistry, serialKey, type ByteOrder, type CodecType } from '../sdk/index.ts';
import { TABLES, type RegisterTable } from './config.ts';
import { bitAt, parseResponse, readRequest } from './pdu.ts';
import { RtuTransport } from './rtu.ts';
import { TcpTransport } from './tcp.ts';
import type { Transport } from './transport.ts';
import { IoCodes } from '../../core/errors.ts';

export const PROBE_TABLES: Record<string, RegisterTable> = {
  holding: 'HoldingRegister', input: 'InputRegister', coil: 'CoilRegister', discrete: 'DiscreteInputRegister',
};

export interface ProbeOptions {
  target: string;
  unit: number;
  table: keyof typeof PROBE_TABLES;
  address: number;
  count: number;
  expect?: number | string;
  timeoutMs: number;
  baudRate: number;
  parity: 'none' | 'even' | 'odd';
}

export interface Interpretation {
  address: number;
  type: CodecType | 'string';
  order?: ByteOrder;
  value: number | string | boolean;
  /** Set when --expect matched, with the scale that makes it match (1 when none). */
  match?: number;
}

export interface ProbeResult {
  target: string;
  unit: number;
  table: RegisterTable;
  address: number;
  count: number;
  /** Register words, or 0/1 per bit. */
  raw: number[];
  interpretations: Interpretation[];
  matches: Interpretation[];
}

const SCALES = [1, 0.1, 0.01, 0.001, 10];

function decimals(n: number): number {
  const s = String(n);
  return s.includes('.') ? s.length - s.indexOf('.') - 1 : 0;
}

/** The scale under which `value` shows as `expect` (to the digits the user typed), if any. */
function matchScale(value: Interpretation['value'], expect: number | string): number | undefined {
  if (typeof expect === 'string') return typeof value === 'string' && value.includes(expect) ? 1 : undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) return undefined;
  const tolerance = Math.max(0.5 * 10 ** -Math.max(decimals(expect), 1), Math.abs(expect) * 1e-6);
  return SCALES.find((s) => Math.abs(value * s - expect) <= tolerance);
}

/** Every reading of `bytes` (registers from `address`): 16-bit at each register, 32-bit at each pair in each order, and the text. */
export function interpret(bytes: Uint8Array, address: number, expect?: number | string): Interpretation[] {
  const out: Interpretation[] = [];
  const words = bytes.length / 2;
  for (let i = 0; i < words; i++) {
    const one = bytes.subarray(i * 2, i * 2 + 2);
    for (const type of ['int16', 'uint16'] as const) out.push({ address: address + i, type, value: decode(one, { type }) as number });
    if (i + 1 >= words) continue;
    const two = bytes.subarray(i * 2, i * 2 + 4);
    for (const type of ['int32', 'uint32', 'float32'] as const) {
      for (const order of BYTE_ORDERS) out.push({ address: address + i, type, order, value: decode(two, { type, order }) as number });
    }
  }
  out.push({ address, type: 'string', value: decode(bytes, { type: 'string' }) as string });
  if (expect !== undefined) for (const x of out) { const s = matchScale(x.value, expect); if (s !== undefined) x.match = s; }
  return out;
}

function parseTarget(target: string): { tcp?: { host: string; port: number }; serial?: string } {
  if (target.startsWith('tcp://')) {
    const url = new URL(target);
    return { tcp: { host: url.hostname, port: Number(url.port || 502) } };
  }
  return { serial: target };
}

export async function probe(opts: ProbeOptions): Promise<ProbeResult> {
  const table = PROBE_TABLES[opts.table];
  if (!table) throw new Error(`unknown table "${opts.table}" (holding, input, coil or discrete)`);
  const where = parseTarget(opts.target);
  const links = new LinkRegistry();
  let transport: Transport;
  if (where.tcp) {
    transport = await TcpTransport.open(where.tcp.host, where.tcp.port, opts.timeoutMs);
  } else {
    const link = await links.acquireSerial({ path: where.serial!, baudRate: opts.baudRate, parity: opts.parity }, 'modbus');
    transport = new RtuTransport(link, () => links.release(serialKey(where.serial!)));
  }
  try {
    const request = readRequest(TABLES[table].fc, opts.address, opts.count);
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(codedError(IoCodes.TIMED_OUT, `unit ${opts.unit} did not answer within ${opts.timeoutMs} ms`)), opts.timeoutMs);
    const data = await transport.request(opts.unit, request, deadline.signal).then((pdu) => parseResponse(request, pdu)).finally(() => clearTimeout(timer));
    const bits = TABLES[table].bits;
    const raw = bits
      ? Array.from({ length: opts.count }, (_, i) => (bitAt(data, i) ? 1 : 0))
      : Array.from({ length: opts.count }, (_, i) => (data[2 * i]! << 8) | data[2 * i + 1]!);
    const interpretations = bits ? [] : interpret(data, opts.address, opts.expect);
    return { target: opts.target, unit: opts.unit, table, address: opts.address, count: opts.count, raw, interpretations, matches: interpretations.filter((x) => x.match !== undefined) };
  } finally {
    await transport.close();
    await links.closeAll();
  }
}
