// Bytes <-> typed values for every protocol that carries raw registers or payloads (Modbus,
// serial instruments, BLE characteristics). One codec, so `order`, `scale` and `valueOffset`
// mean the same thing whichever driver reads the bytes.

import type { PropertyValue } from '../../core/values.ts';
import { IoCodes } from '../../core/errors.ts';

export type CodecType =
  | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64'
  | 'float32' | 'float64' | 'string' | 'bool' | 'bit' | 'bytes';

/**
 * Byte order of the wire bytes, named by where the big-endian bytes A B C D end up.
 * BADC swaps the two bytes of each 16-bit register, CDAB reverses the register order
 * (at any width), DCBA does both.
 */
export type ByteOrder = 'ABCD' | 'CDAB' | 'BADC' | 'DCBA';

export const CODEC_TYPES: readonly CodecType[] = [
  'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64',
  'float32', 'float64', 'string', 'bool', 'bit', 'bytes',
];
export const BYTE_ORDERS: readonly ByteOrder[] = ['ABCD', 'CDAB', 'BADC', 'DCBA'];

export interface CodecSpec {
  type: CodecType;
  /** Default ABCD (big-endian, as Modbus sends registers). */
  order?: ByteOrder;
  /** For `bit`: bit number in the big-endian integer the bytes form, 0 = least significant. */
  bitIndex?: number;
  /** Bytes on the wire for string, bytes, bool and bit; numeric types have a fixed width. */
  length?: number;
  /** value = raw * scale + valueOffset */
  scale?: number;
  valueOffset?: number;
}

/** A value that does not fit its codec: the message says which and why. */
export class CodecError extends Error {
  override name = 'CodecError';
  readonly code = IoCodes.CODEC;
}

const FIXED_WIDTH: Partial<Record<CodecType, number>> = {
  int8: 1, uint8: 1, int16: 2, uint16: 2, int32: 4, uint32: 4, int64: 8, uint64: 8, float32: 4, float64: 8,
};

/** Bytes the codec reads or writes; undefined when it takes whatever the wire gives (string, bytes, bool, bit). */
export function codecWidth(spec: CodecSpec): number | undefined {
  return FIXED_WIDTH[spec.type] ?? spec.length;
}

/** Problems with a spec itself (unknown type, bad order, bit out of range), for load-time checks. */
export function checkCodecSpec(spec: CodecSpec): string[] {
  const problems: string[] = [];
  if (!CODEC_TYPES.includes(spec.type)) problems.push(`unknown data type "${spec.type}" (one of ${CODEC_TYPES.join(', ')})`);
  if (spec.order !== undefined && !BYTE_ORDERS.includes(spec.order)) problems.push(`unknown order "${spec.order}" (one of ${BYTE_ORDERS.join(', ')})`);
  if (spec.scale !== undefined && (!Number.isFinite(spec.scale) || spec.scale === 0)) problems.push('scale must be a finite number other than 0');
  if (spec.valueOffset !== undefined && !Number.isFinite(spec.valueOffset)) problems.push('valueOffset must be a finite number');
  if (spec.length !== undefined && (!Number.isInteger(spec.length) || spec.length < 1)) problems.push('length must be a positive integer');
  if (spec.type === 'bit') {
    const bits = (spec.length ?? 8) * 8;
    if (spec.bitIndex === undefined || !Number.isInteger(spec.bitIndex) || spec.bitIndex < 0 || spec.bitIndex >= bits) {
      problems.push(`bitIndex must be an integer from 0 to ${bits - 1}`);
    }
  }
  return problems;
}

/**
 * Reorder wire bytes to big-endian (ABCD) or back: every order is its own inverse, so the
 * same function serves decode and encode.
 */
export function reorder(bytes: Uint8Array, order: ByteOrder = 'ABCD'): Uint8Array {
  if (order === 'ABCD' || bytes.length < 2) return bytes;
  const out = Uint8Array.from(bytes);
  if (order === 'CDAB' || order === 'DCBA') {
    const words = Math.floor(out.length / 2);
    for (let i = 0; i < words; i++) {
      const j = words - 1 - i;
      out[2 * i] = bytes[2 * j]!;
      out[2 * i + 1] = bytes[2 * j + 1]!;
    }
  }
  if (order === 'BADC' || order === 'DCBA') {
    for (let i = 0; i + 1 < out.length; i += 2) {
      const a = out[i]!;
      out[i] = out[i + 1]!;
      out[i + 1] = a;
    }
  }
  return out;
}

/** Drop binary noise (235 * 0.1 = 23.500000000000004) while keeping every real digit a double has. */
export function roundNoise(n: number): number {
  return Number.isInteger(n) ? n : Number(n.toPrecision(15));
}

/**
 * The shortest decimal that is the same float32: a PLC's 52.6 arrives as 52.599998474121094 in
 * double precision, and people expect to see 52.6, as their HMI shows it.
 */
export function shortestFloat32(f: number): number {
  if (!Number.isFinite(f) || (Number.isInteger(f) && Math.abs(f) < 2 ** 24)) return f;
  // 6 digits first: float32 carries about 7.2, so at most one 6-digit decimal lies within half a
  // unit of f, and starting there finds the shortest with 4 tries at most.
  for (let digits = 6; digits <= 9; digits++) {
    const candidate = Number(f.toPrecision(digits));
    if (Math.fround(candidate) === f) return candidate;
  }
  return f;
}

export function applyScale(value: number | bigint, spec: Pick<CodecSpec, 'scale' | 'valueOffset'>): number | bigint {
  const scale = spec.scale ?? 1;
  const offset = spec.valueOffset ?? 0;
  if (scale === 1 && offset === 0) return value;
  return roundNoise(Number(value) * scale + offset);
}

export function removeScale(value: number, spec: Pick<CodecSpec, 'scale' | 'valueOffset'>): number {
  const scale = spec.scale ?? 1;
  const offset = spec.valueOffset ?? 0;
  if (scale === 1 && offset === 0) return value;
  return roundNoise((value - offset) / scale);
}

function normalise(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** Scratch for numbers: decoding runs for every changed value of every poll, so it allocates nothing for them. */
const SCRATCH = new Uint8Array(8);
const SCRATCH_VIEW = new DataView(SCRATCH.buffer);

/** `width` bytes of `raw` from `at` into SCRATCH in ABCD order (what reorder() would give, without an array). */
function toScratch(raw: Uint8Array, at: number, width: number, order: ByteOrder | undefined): void {
  const words = width >> 1;
  const reverseWords = order === 'CDAB' || order === 'DCBA';
  const swapBytes = order === 'BADC' || order === 'DCBA';
  if (width < 2 || (!reverseWords && !swapBytes)) {
    for (let i = 0; i < width; i++) SCRATCH[i] = raw[at + i]!;
    return;
  }
  for (let i = 0; i < width; i++) {
    const word = reverseWords ? words - 1 - (i >> 1) : i >> 1;
    const byte = swapBytes ? 1 - (i & 1) : i & 1;
    SCRATCH[i] = raw[at + 2 * word + byte]!;
  }
}

/** Wire bytes -> typed value, with scale and valueOffset applied to numbers. */
export function decode(raw: Uint8Array, spec: CodecSpec): PropertyValue {
  return decodeAt(raw, 0, raw.length, spec);
}

/**
 * decode() of the `length` bytes at `at` in `bytes`, without cutting them out: a driver that
 * answers a request as one block (RawBlock.layout) has every property's value decoded in place,
 * with no view or copy per value for the numeric types. The caller keeps `at + length` within
 * `bytes`; the result, and any error, is what decode(bytes.subarray(at, at + length)) gives.
 */
export function decodeAt(bytes: Uint8Array, at: number, length: number, spec: CodecSpec): PropertyValue {
  const width = codecWidth(spec);
  if (width !== undefined && length < width) {
    throw new CodecError(`${spec.type} needs ${width} bytes, the device returned ${length}`);
  }
  switch (spec.type) {
    case 'int8': case 'uint8': case 'int16': case 'uint16': case 'int32': case 'uint32':
    case 'int64': case 'uint64': case 'float32': case 'float64': {
      toScratch(bytes, at, width!, spec.order);
      const view = SCRATCH_VIEW;
      switch (spec.type) {
        case 'int8': return applyScale(view.getInt8(0), spec);
        case 'uint8': return applyScale(view.getUint8(0), spec);
        case 'int16': return applyScale(view.getInt16(0), spec);
        case 'uint16': return applyScale(view.getUint16(0), spec);
        case 'int32': return applyScale(view.getInt32(0), spec);
        case 'uint32': return applyScale(view.getUint32(0), spec);
        case 'int64': return applyScale(normalise(view.getBigInt64(0)), spec);
        case 'uint64': return applyScale(normalise(view.getBigUint64(0)), spec);
        case 'float32': return applyScale(shortestFloat32(view.getFloat32(0)), spec);
        case 'float64': return applyScale(view.getFloat64(0), spec);
      }
    }
  }
  // The variable-width types are rare on a hot path: cut them out and reorder as before.
  const bytesOf = at === 0 && length === bytes.length && width === undefined ? bytes : bytes.subarray(at, at + (width ?? length));
  const ordered = reorder(bytesOf, spec.order);
  switch (spec.type) {
    case 'bool': return ordered.some((b) => b !== 0);
    case 'bit': {
      const index = spec.bitIndex ?? 0;
      if (index >= ordered.length * 8) throw new CodecError(`bit ${index} needs ${Math.floor(index / 8) + 1} bytes, the device returned ${ordered.length}`);
      const byte = ordered[ordered.length - 1 - Math.floor(index / 8)]!;
      return ((byte >> index % 8) & 1) === 1;
    }
    case 'string': {
      let end = ordered.length;
      while (end > 0 && ordered[end - 1] === 0) end--;
      return Buffer.from(ordered.subarray(0, end)).toString('utf8');
    }
    case 'bytes': return Uint8Array.from(ordered);
  }
}

function toInteger(value: PropertyValue, spec: CodecSpec, min: bigint, max: bigint): bigint {
  let n: bigint;
  if (typeof value === 'bigint') {
    n = spec.scale === undefined && spec.valueOffset === undefined ? value : BigInt(Math.round(removeScale(Number(value), spec)));
  } else if (typeof value === 'number') {
    n = BigInt(Math.round(removeScale(value, spec)));
  } else if (typeof value === 'boolean') {
    n = value ? 1n : 0n;
  } else {
    throw new CodecError(`${spec.type} needs a number, got ${typeof value === 'string' ? `"${value}"` : 'bytes'}`);
  }
  if (n < min || n > max) throw new CodecError(`${String(value)} is out of range for ${spec.type} (${min} to ${max} on the wire)`);
  return n;
}

function toFloat(value: PropertyValue, spec: CodecSpec): number {
  if (typeof value === 'number' || typeof value === 'bigint') return removeScale(Number(value), spec);
  throw new CodecError(`${spec.type} needs a number, got ${typeof value}`);
}

function fitBytes(content: Uint8Array, spec: CodecSpec): Uint8Array {
  if (spec.length === undefined) return content;
  if (content.length > spec.length) throw new CodecError(`${content.length} bytes do not fit in ${spec.length}`);
  const out = new Uint8Array(spec.length);
  out.set(content);
  return out;
}

/** Typed value -> wire bytes: the exact reverse of decode. */
export function encode(value: PropertyValue, spec: CodecSpec): Uint8Array {
  const width = codecWidth(spec);
  let bytes: Uint8Array;
  if (width !== undefined && FIXED_WIDTH[spec.type] !== undefined) {
    bytes = new Uint8Array(width);
    const view = new DataView(bytes.buffer);
    const signed = spec.type.startsWith('int');
    const bits = BigInt(width * 8);
    const min = signed ? -(1n << (bits - 1n)) : 0n;
    const max = signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
    switch (spec.type) {
      case 'int8': view.setInt8(0, Number(toInteger(value, spec, min, max))); break;
      case 'uint8': view.setUint8(0, Number(toInteger(value, spec, min, max))); break;
      case 'int16': view.setInt16(0, Number(toInteger(value, spec, min, max))); break;
      case 'uint16': view.setUint16(0, Number(toInteger(value, spec, min, max))); break;
      case 'int32': view.setInt32(0, Number(toInteger(value, spec, min, max))); break;
      case 'uint32': view.setUint32(0, Number(toInteger(value, spec, min, max))); break;
      case 'int64': view.setBigInt64(0, toInteger(value, spec, min, max)); break;
      case 'uint64': view.setBigUint64(0, toInteger(value, spec, min, max)); break;
      case 'float32': view.setFloat32(0, toFloat(value, spec)); break;
      case 'float64': view.setFloat64(0, toFloat(value, spec)); break;
    }
  } else if (spec.type === 'bool' || spec.type === 'bit') {
    if (typeof value !== 'boolean' && value !== 0 && value !== 1) throw new CodecError(`${spec.type} needs true or false, got ${String(value)}`);
    // Without a length, one 16-bit register (or the byte holding the bit, when it is further up).
    bytes = new Uint8Array(width ?? Math.max(2, Math.ceil(((spec.bitIndex ?? 0) + 1) / 8)));
    const index = spec.type === 'bit' ? spec.bitIndex ?? 0 : 0;
    if (value === true || value === 1) bytes[bytes.length - 1 - Math.floor(index / 8)] = 1 << index % 8;
  } else if (spec.type === 'string') {
    bytes = fitBytes(typeof value === 'string' ? Buffer.from(value, 'utf8') : value instanceof Uint8Array ? value : Buffer.from(String(value)), spec);
  } else {
    if (!(value instanceof Uint8Array)) throw new CodecError(`bytes needs a byte array, got ${typeof value}`);
    bytes = fitBytes(value, spec);
  }
  return reorder(bytes, spec.order);
}
