// What a driver returned -> the Reading the twin gets: decode raw bytes with the property's
// codec, apply a visitor's scale/valueOffset to typed numbers, coerce to the property type.
// Anything that does not fit becomes a bad reading that says why, never a wrong value.

import type { Quality, Reading } from '../../core/reading.ts';
import { parseValue, ValueError, type PropertyValue } from '../../core/values.ts';
import { applyScale, decode, decodeAt, removeScale, type CodecSpec } from './codec.ts';
import type { PropertyBinding, RawReading } from './driver.ts';
import { errorMessage } from './async.ts';
import { IoCodes } from '../../core/errors.ts';

/** scale/valueOffset a visitor sets for a driver that returns typed values. */
export function visitorScale(p: PropertyBinding): { scale?: number; valueOffset?: number } | undefined {
  const scale = typeof p.visitor.scale === 'number' ? p.visitor.scale : undefined;
  const valueOffset = typeof p.visitor.valueOffset === 'number' ? p.visitor.valueOffset : undefined;
  return scale === undefined && valueOffset === undefined ? undefined : { scale, valueOffset };
}

export function badReading(device: string, property: string, code: string, message: string, time: number): Reading {
  return { device, property, time, quality: 'bad', error: { code, message } };
}

export function toReading(device: string, p: PropertyBinding, codec: CodecSpec | undefined, raw: RawReading | undefined, now: number): Reading {
  const time = raw?.time ?? now;
  if (!raw) return badReading(device, p.name, IoCodes.NO_DATA, 'the driver returned no value for this property', time);
  if (raw.error || raw.quality === 'bad') {
    return { device, property: p.name, time, quality: 'bad', error: raw.error ?? { code: IoCodes.BAD_QUALITY, message: 'the device marked the value bad' } };
  }
  let value: PropertyValue | undefined;
  try {
    if (raw.raw !== undefined && codec) value = decode(raw.raw, codec);
    else if (raw.value !== undefined) {
      const scale = visitorScale(p);
      value = scale && (typeof raw.value === 'number' || typeof raw.value === 'bigint') ? applyScale(raw.value, scale) : raw.value;
    } else if (raw.raw !== undefined) value = raw.raw;
  } catch (err) {
    return unconvertible(device, p, err, time);
  }
  if (value === undefined) return badReading(device, p.name, IoCodes.NO_DATA, 'the driver returned neither a value nor bytes', time);
  const reading = typed(device, p, value, time, raw.quality ?? 'good');
  if (raw.quality === 'uncertain' && raw.error && reading.quality === 'uncertain') reading.error = raw.error;
  return reading;
}

/**
 * toReading() of a good answer whose bytes are the `length` at `at` in a block (RawBlock.layout):
 * the same reading, value or error, decoded in place, with no RawReading or view per value.
 */
export function blockReading(device: string, p: PropertyBinding, codec: CodecSpec, block: Uint8Array, at: number, length: number, time: number): Reading {
  let value: PropertyValue;
  try {
    value = decodeAt(block, at, length, codec);
  } catch (err) {
    return unconvertible(device, p, err, time);
  }
  return typed(device, p, value, time, 'good');
}

/** A decoded value coerced to the property's type, or the bad reading that says why it does not fit. */
function typed(device: string, p: PropertyBinding, decoded: PropertyValue, time: number, quality: Quality): Reading {
  const type = p.spec.type;
  if (typeof decoded === 'number') {
    if (type === 'int') {
      if (!Number.isInteger(decoded)) return badReading(device, p.name, IoCodes.TYPE, `${decoded} is not an integer but the property type is int (check scale, or declare the property FLOAT)`, time);
      // What parseValue() would return for it, without the call: most registers are integers.
      return { device, property: p.name, value: decoded, time, quality };
    }
    if ((type === 'double' || type === 'float') && Number.isFinite(decoded)) return { device, property: p.name, value: decoded, time, quality };
  }
  let value: PropertyValue;
  try {
    value = parseValue(type, decoded);
  } catch (err) {
    return unconvertible(device, p, err, time);
  }
  return { device, property: p.name, value, time, quality };
}

function unconvertible(device: string, p: PropertyBinding, err: unknown, time: number): Reading {
  const code = err instanceof ValueError ? IoCodes.TYPE : IoCodes.CODEC;
  return badReading(device, p.name, code, `cannot convert the device's value: ${errorMessage(err)}`, time);
}

/**
 * Which typed numbers toReading() passes on exactly as they are for this property, so that a
 * stream's hot path can check them with one test: 'finite' for a float or double property, any
 * finite number; 'integer' for an int property, any integer number; undefined when a visitor scale
 * applies or the type is not numeric (toReading() then does the whole work).
 */
export function numbersAsIs(p: PropertyBinding): 'finite' | 'integer' | undefined {
  if (visitorScale(p)) return undefined;
  const type = p.spec.type;
  return type === 'float' || type === 'double' ? 'finite' : type === 'int' ? 'integer' : undefined;
}

/** The typed value a driver without a codec receives for a write: the visitor's scale undone. */
export function toDriverValue(p: PropertyBinding, value: PropertyValue): PropertyValue {
  const scale = visitorScale(p);
  return scale && typeof value === 'number' ? removeScale(value, scale) : value;
}
