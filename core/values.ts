// Typed property values inside edgetwin, and their KubeEdge string form at the boundary.
// KubeEdge carries every value as a string; inside we keep numbers as numbers so deltas,
// deadbands and limits compare correctly.

export type PropertyType = 'int' | 'float' | 'double' | 'string' | 'boolean' | 'bytes';
export type PropertyValue = number | bigint | string | boolean | Uint8Array;

export class ValueError extends Error {
  override name = 'ValueError';
}

/** The accepted forms, quoted in every refusal so the user sees what to write instead. */
export const ACCEPTED_FORM: Record<PropertyType, string> = {
  int: 'a decimal integer: optional sign and digits, e.g. -42',
  float: 'a decimal number: optional sign, digits, optional fraction and exponent, e.g. -12.5 or 5.6e-9',
  double: 'a decimal number: optional sign, digits, optional fraction and exponent, e.g. -12.5 or 5.6e-9',
  boolean: 'true, false, 1 or 0',
  string: 'a string',
  bytes: 'base64, or hex prefixed with 0x',
};

// Decimal only: hex, octal and binary literals (which Number() takes) would turn a typo into a
// different setpoint, and NaN or Infinity are not values any device holds.
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** True for the decimal number text every numeric value must be written in. */
export function isDecimalNumber(s: string): boolean {
  return DECIMAL.test(s.trim());
}

function refuse(type: PropertyType, got: string): never {
  throw new ValueError(`expected ${ACCEPTED_FORM[type]}, got ${got}`);
}

/**
 * Parse KubeEdge's string form (or a JSON scalar) into the property's typed value. Throws
 * ValueError. Arrays and objects are refused for every type: String([[13]]) is "13", and a JSON
 * body that sent an array meant something else.
 */
export function parseValue(type: PropertyType, input: unknown): PropertyValue {
  if (input === null || input === undefined) refuse(type, String(input));
  if (typeof input === 'object' && !(input instanceof Uint8Array)) refuse(type, Array.isArray(input) ? `an array (${JSON.stringify(input)})` : 'an object');
  switch (type) {
    case 'int': {
      if (typeof input === 'bigint') return normaliseInt(input);
      if (typeof input === 'number') {
        if (!Number.isInteger(input)) refuse(type, String(input));
        return input;
      }
      if (typeof input !== 'string') refuse(type, describeInput(input));
      const s = input.trim();
      const n = integerText(s);
      if (n === undefined) refuse(type, `"${s}"`);
      return Number.isNaN(n) ? normaliseInt(BigInt(s)) : n;
    }
    case 'float':
    case 'double': {
      if (typeof input === 'number') {
        if (!Number.isFinite(input)) refuse(type, `${input} (only finite numbers)`);
        return input;
      }
      if (typeof input === 'bigint') return Number(input);
      if (typeof input !== 'string') refuse(type, describeInput(input));
      const s = input.trim();
      if (!DECIMAL.test(s)) refuse(type, `"${s}"`);
      const n = Number(s);
      if (!Number.isFinite(n)) refuse(type, `"${s}" (beyond the range of a double)`);
      return n;
    }
    case 'boolean': {
      if (typeof input === 'boolean') return input;
      if (input === 1 || input === 0) return input === 1;
      if (typeof input !== 'string') refuse(type, describeInput(input));
      const s = input.trim().toLowerCase();
      if (s === 'true' || s === '1') return true;
      if (s === 'false' || s === '0') return false;
      refuse(type, `"${input}"`);
    }
    case 'string':
      if (input instanceof Uint8Array) return Buffer.from(input).toString('utf8');
      return String(input);
    case 'bytes': {
      if (input instanceof Uint8Array) return input;
      if (typeof input !== 'string') refuse(type, describeInput(input));
      const s = input.trim();
      if (/^0x(?:[0-9a-fA-F]{2})*$/.test(s)) return Uint8Array.from(Buffer.from(s.slice(2), 'hex'));
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) refuse(type, `"${s}"`);
      return Uint8Array.from(Buffer.from(s, 'base64'));
    }
  }
}

function describeInput(input: unknown): string {
  return input instanceof Uint8Array ? 'bytes' : `${typeof input} ${String(input)}`;
}

function normaliseInt(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** The KubeEdge string form of a typed value. */
export function formatValue(type: PropertyType, value: PropertyValue): string {
  if (value instanceof Uint8Array) return type === 'string' ? Buffer.from(value).toString('utf8') : Buffer.from(value).toString('base64');
  if (typeof value === 'number' && (type === 'float' || type === 'double')) return formatNumber(value);
  return String(value);
}

/** Shortest decimal that round-trips, without binary noise such as 23.500000000000004. */
export function formatNumber(n: number): string {
  if (Number.isInteger(n)) return String(n);
  const p = Number(n.toPrecision(12));
  return String(p);
}

/**
 * The value of [-+]?digits, undefined for anything else, NaN when it has more than 15 digits (a
 * double may not hold it exactly: the caller goes through BigInt). One loop, no RegExp and no
 * Number(): every integer a text protocol reports passes here.
 */
function integerText(s: string): number | undefined {
  const first = s.charCodeAt(0);
  const signed = first === 43 || first === 45 ? 1 : 0;
  if (signed >= s.length) return undefined;
  let n = 0;
  for (let i = signed; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
    n = n * 10 + (c - 48);
  }
  if (s.length - signed > 15) return NaN;
  return first === 45 ? -n : n;
}

/**
 * Exact equality that understands bytes and mixed bigint/number. No tolerance: the report filter
 * uses it, and a 5.6e-9 F capacitance that changes by 0.5% is a change. A deadband is the user's
 * tool for noise.
 */
export function sameValue(a: PropertyValue | undefined, b: PropertyValue | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && Buffer.from(a).equals(Buffer.from(b));
  }
  if ((typeof a === 'number' || typeof a === 'bigint') && (typeof b === 'number' || typeof b === 'bigint')) {
    if (typeof a === 'number' && typeof b === 'number') return a === b;
    if (typeof a === 'number' && !Number.isInteger(a)) return false;
    if (typeof b === 'number' && !Number.isInteger(b)) return false;
    return BigInt(a) === BigInt(b);
  }
  return a === b;
}

/**
 * Equality at the precision the property's type has on the wire, for comparing what a device
 * holds with what it was asked to hold: a FLOAT is an IEEE float32 (KubeEdge's mappers read it
 * so), so 23.1 written reads back as 23.100000381 and is the same value; a DOUBLE and every
 * other type compare exactly. Never used to decide whether a reading changed.
 */
export function sameAtWirePrecision(type: PropertyType, a: PropertyValue | undefined, b: PropertyValue | undefined): boolean {
  if (type === 'float' && typeof a === 'number' && typeof b === 'number') return Math.fround(a) === Math.fround(b);
  return sameValue(a, b);
}

/** Lower-case KubeEdge type name used in twin metadata ("int", "float", ...). */
export function typeFromKubeEdge(t: string): PropertyType | undefined {
  switch (t.toUpperCase()) {
    case 'INT': return 'int';
    case 'FLOAT': return 'float';
    case 'DOUBLE': return 'double';
    case 'STRING': return 'string';
    case 'BOOLEAN': return 'boolean';
    case 'BYTES': return 'bytes';
    default: return undefined;
  }
}
