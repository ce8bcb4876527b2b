// OPC UA values and status codes <-> edgetwin's typed values and reading quality. A DataValue's
// source timestamp becomes the reading's time; its StatusCode becomes good, uncertain or bad with
// the status name as a stable code (BadNodeIdUnknown -> BAD_NODE_ID_UNKNOWN).

import './library-log.ts';
import { DataType, Variant, VariantArrayType, type DataValue, type StatusCode } from 'node-opcua-client';
import type { PushChannel, RawReading } from '../sdk/driver.ts';
import { codedError } from '../sdk/async.ts';
import type { PropertyValue } from '../../core/values.ts';
import { IoCodes } from '../../core/errors.ts';

/** BadNodeIdUnknown -> BAD_NODE_ID_UNKNOWN: matches the codes every driver reports. */
export function statusCodeName(status: StatusCode): string {
  return status.name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

export function describeStatus(status: StatusCode): string {
  return `${status.name} (0x${status.value.toString(16).padStart(8, '0')})${status.description ? `: ${status.description}` : ''}`;
}

export function statusError(status: StatusCode, what: string): Error {
  return codedError(statusCodeName(status), `${what} returned ${describeStatus(status)}`);
}

const uncertainCode = (code: number) => (code & 0xc0000000) >>> 0 === 0x40000000;

const TWO32 = 4294967296n;

function int64(value: unknown, signed: boolean): bigint | number {
  if (typeof value === 'bigint') return value;
  const [high, low] = value as [number, number];
  const big = (BigInt(high >>> 0) * TWO32) + BigInt(low >>> 0);
  const v = signed ? BigInt.asIntN(64, big) : big;
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/**
 * Scalar DataTypes whose JavaScript value is already a PropertyValue, indexed by DataType: one
 * array read per notification instead of ten case comparisons (a subscription decodes tens of
 * thousands of values a second).
 */
const AS_IS: readonly boolean[] = (() => {
  const asIs: boolean[] = [];
  for (const t of [DataType.Boolean, DataType.SByte, DataType.Byte, DataType.Int16, DataType.UInt16, DataType.Int32, DataType.UInt32, DataType.Float, DataType.Double, DataType.String]) asIs[t] = true;
  return asIs;
})();

/** A variant's value as a PropertyValue; arrays and structures become JSON text. */
export function fromVariant(variant: Variant): PropertyValue | undefined {
  const { dataType, value } = variant;
  if (value === null || value === undefined) return undefined;
  if (variant.arrayType !== VariantArrayType.Scalar) return JSON.stringify(Array.from(value as ArrayLike<unknown>, (x) => (typeof x === 'bigint' ? String(x) : x)));
  if (AS_IS[dataType] === true) return value as PropertyValue;
  switch (dataType) {
    case DataType.Int64:
      return int64(value, true);
    case DataType.UInt64:
      return int64(value, false);
    case DataType.ByteString:
      return Uint8Array.from(value as Buffer);
    case DataType.DateTime:
      return (value as Date).toISOString();
    case DataType.LocalizedText:
      return (value as { text?: string }).text ?? '';
    case DataType.QualifiedName:
      return (value as { name?: string }).name ?? '';
    case DataType.StatusCode:
      return (value as StatusCode).name;
    default:
      return typeof value === 'object' ? JSON.stringify(value) : String(value);
  }
}

/** One DataValue as the runtime wants it: value, source time and quality. */
export function toRaw(property: string, dv: DataValue, what: string): RawReading {
  const status = dv.statusCode;
  // Read once: a status code's value is a getter, and Good (0) is nearly every notification.
  const code = status.value;
  const time = (dv.sourceTimestamp ?? dv.serverTimestamp)?.getTime();
  if (code !== 0 && !uncertainCode(code) && (code & 0x80000000) !== 0) {
    return { property, time, quality: 'bad', error: { code: statusCodeName(status), message: `${what} returned ${describeStatus(status)}` } };
  }
  const value = fromVariant(dv.value);
  if (value === undefined) return { property, time, quality: 'bad', error: { code: IoCodes.NO_DATA, message: `${what} holds no value (null)` } };
  return { property, value, time, quality: code !== 0 && uncertainCode(code) ? 'uncertain' : 'good' };
}

/**
 * One DataValue of a subscription into the runtime's push channel: a good or uncertain value goes
 * by its property's index with no object made here (the subscription path's hot spot, tens of
 * thousands a second); anything else as toRaw() describes it.
 */
export function pushDataValue(push: PushChannel, index: number, property: string, dv: DataValue, what: string): void {
  const code = dv.statusCode.value;
  if ((code & 0x80000000) === 0) {
    const value = fromVariant(dv.value);
    if (value !== undefined) {
      push.value(index, value, (dv.sourceTimestamp ?? dv.serverTimestamp)?.getTime(), code !== 0 && uncertainCode(code) ? 'uncertain' : 'good');
      return;
    }
  }
  push.reading(toRaw(property, dv, what));
}

const RANGES: Partial<Record<DataType, [number, number]>> = {
  [DataType.SByte]: [-128, 127],
  [DataType.Byte]: [0, 255],
  [DataType.Int16]: [-32768, 32767],
  [DataType.UInt16]: [0, 65535],
  [DataType.Int32]: [-2147483648, 2147483647],
  [DataType.UInt32]: [0, 4294967295],
};

function split64(v: bigint, signed: boolean): [number, number] {
  const min = signed ? -(2n ** 63n) : 0n;
  const max = signed ? 2n ** 63n - 1n : 2n ** 64n - 1n;
  if (v < min || v > max) throw codedError(IoCodes.RANGE, `${v} is out of range for ${signed ? 'Int64' : 'UInt64'}`);
  const u = BigInt.asUintN(64, v);
  return [Number(u / TWO32), Number(u % TWO32)];
}

/** A typed value as a Variant of the node's built-in DataType; throws ERANGE/ETYPE when it does not fit. */
export function toVariant(value: PropertyValue, dataType: DataType): Variant {
  const fail = (why: string) => codedError(IoCodes.TYPE, `cannot write ${String(value)} to a node of DataType ${DataType[dataType]}: ${why}`);
  const num = () => {
    const n = typeof value === 'bigint' ? Number(value) : typeof value === 'boolean' ? Number(value) : Number(value);
    if (typeof value === 'string' && value.trim() === '') throw fail('empty text');
    if (!Number.isFinite(n)) throw fail('not a number');
    return n;
  };
  let v: unknown;
  switch (dataType) {
    case DataType.Boolean:
      v = typeof value === 'boolean' ? value : value === 1 || value === '1' || value === 'true' ? true : value === 0 || value === '0' || value === 'false' ? false : (() => { throw fail('not a boolean'); })();
      break;
    case DataType.SByte: case DataType.Byte: case DataType.Int16: case DataType.UInt16: case DataType.Int32: case DataType.UInt32: {
      const n = num();
      const [min, max] = RANGES[dataType]!;
      if (!Number.isInteger(n)) throw fail('not an integer');
      if (n < min || n > max) throw codedError(IoCodes.RANGE, `${n} is out of range for ${DataType[dataType]} (${min}..${max})`);
      v = n;
      break;
    }
    case DataType.Int64: case DataType.UInt64: {
      let big: bigint;
      try {
        big = BigInt(typeof value === 'number' && !Number.isInteger(value) ? NaN : (value as never));
      } catch {
        throw fail('not an integer');
      }
      v = split64(big, dataType === DataType.Int64);
      break;
    }
    case DataType.Float: case DataType.Double:
      v = num();
      break;
    case DataType.String:
      v = value instanceof Uint8Array ? Buffer.from(value).toString('utf8') : String(value);
      break;
    case DataType.ByteString:
      v = value instanceof Uint8Array ? Buffer.from(value) : Buffer.from(String(value), 'utf8');
      break;
    case DataType.DateTime: {
      const d = new Date(typeof value === 'bigint' ? Number(value) : (value as string | number));
      if (Number.isNaN(d.getTime())) throw fail('not a date');
      v = d;
      break;
    }
    case DataType.LocalizedText:
      v = { text: String(value) };
      break;
    default:
      throw fail('this DataType cannot be written from a twin value');
  }
  return new Variant({ dataType, arrayType: VariantArrayType.Scalar, value: v });
}
