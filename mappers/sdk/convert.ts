// What a driver returned -> the Reading the twin gets: decode raw bytes with the property's
// codec, apply a visitor's scale/valueOffset to typed numbers, coerce to the property type.
// Anything that does not fit becomes a bad reading that says why, never a wrong value.

import type { Reading } from '../../core/reading.ts';
import { parseValue, ValueError, type PropertyValue } from '../../core/values.ts';
import { applyScale, decode, removeScale, type CodecSpec } from './codec.ts';
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
    if (value === undefined) return badReading(device, p.name, IoCodes.NO_DATA, 'the driver returned neither a value nor bytes', time);
    if (p.spec.type === 'int' && typeof value === 'number' && !Number.isInteger(value)) {
      return badReading(device, p.name, IoCodes.TYPE, `${value} is not an integer but the property type is int (check scale, or declare the property FLOAT)`, time);
    }
    value = parseValue(p.spec.type, value);
  } catch (err) {
    const code = err instanceof ValueError ? IoCodes.TYPE : IoCodes.CODEC;
    return badReading(device, p.name, code, `cannot convert the device's value: ${errorMessage(err)}`, time);
  }
  const reading: Reading = { device, property: p.name, value, time, quality: raw.quality ?? 'good' };
  if (raw.quality === 'uncertain' && raw.error) reading.error = raw.error;
  return reading;
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
