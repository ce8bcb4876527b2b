// Checks a desired value before anything is stored: the property exists and is writable, the
// value parses as the property's type and lies within minimum and maximum.

import { EdgetwinError, ErrorCodes } from '../core/errors.ts';
import { formatValue, parseValue, ValueError, type PropertyValue } from '../core/values.ts';
import type { DeviceEntry, PropState } from './entry.ts';

export function writableProperty(e: DeviceEntry, name: string): PropState {
  const p = e.props.get(name);
  if (!p) {
    throw new EdgetwinError(ErrorCodes.NOT_FOUND, 'no such property on this device', { device: e.spec.id, property: name }, `its properties: ${[...e.props.keys()].join(', ')}`);
  }
  if (p.spec.accessMode === 'ReadOnly') {
    throw new EdgetwinError(ErrorCodes.READ_ONLY, 'the property is ReadOnly: it takes no desired value', { device: e.spec.id, property: name }, 'set accessMode: ReadWrite in the DeviceModel if the device accepts writes');
  }
  return p;
}

export function typedDesired(e: DeviceEntry, p: PropState, raw: unknown): PropertyValue {
  const where = { device: e.spec.id, property: p.spec.name };
  let v: PropertyValue;
  try {
    v = parseValue(p.spec.type, raw);
  } catch (err) {
    if (!(err instanceof ValueError)) throw err;
    throw new EdgetwinError(ErrorCodes.MODEL_VALUE, `desired value rejected: ${err.message}`, where, `the property's type is ${p.spec.type}`);
  }
  const n = typeof v === 'number' || typeof v === 'bigint' ? Number(v) : undefined;
  if (n !== undefined && p.spec.minimum !== undefined && n < p.spec.minimum) {
    throw new EdgetwinError(ErrorCodes.MODEL_VALUE, `desired value ${formatValue(p.spec.type, v)} is below the minimum ${p.spec.minimum}`, where);
  }
  if (n !== undefined && p.spec.maximum !== undefined && n > p.spec.maximum) {
    throw new EdgetwinError(ErrorCodes.MODEL_VALUE, `desired value ${formatValue(p.spec.type, v)} is above the maximum ${p.spec.maximum}`, where);
  }
  return v;
}
