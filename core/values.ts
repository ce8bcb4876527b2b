// Typed property values inside edgetwin, and their KubeEdge string form at the boundary.
// KubeEdge carries every value as a string; inside we keep numbers as numbers so deltas,
// deadbands and limits compare correctly.

export type PropertyType = 'int' | 'float' | 'double' | 'string' | 'boolean' | 'bytes';
export type PropertyValue = number | bigint | string | boolean | Uint8Array;

export class ValueError extends Error {
  override name = 'ValueError';
}

/** Parse KubeEdge's string form (or a JSON scalar) into the property's typed value. Throws ValueError. */
export function parseValue(type: PropertyType, input: unknown): PropertyValue {
  switch (type) {
    case 'int': {
      if (typeof input === 'bigint') return normaliseInt(input);
      if (typeof input === 'number') {
        if (!Number.isInteger(input)) throw new ValueError(`expected an integer, got ${input}`);
        return input;
      }
      const s = typeof input === 'string' ? input.trim() : String(input).trim();
      const n = integerText(s);
      if (n === undefined) throw new ValueError(`expected an integer, got "${s}"`);
      return Number.isNaN(n) ? normaliseInt(BigInt(s)) : n;
    }
    case 'float':
    case 'double': {
      if (typeof input === 'number') {
        if (!Number.isFinite(input)) throw new ValueError(`expected a finite number, got ${input}`);
        return input;
      }
      if (typeof input === 'bigint') return Number(input);
      const s = String(input).trim();
      const n = Number(s);
      if (s === '' || !Number.isFinite(n)) throw new ValueError(`expected a number, got "${s}"`);
      return n;
    }
    case 'boolean': {
      if (typeof input === 'boolean') return input;
      if (input === 1 || input === 0) return input === 1;
      const s = String(input).trim().toLowerCase();
      if (s === 'true' || s === '1') return true;
      if (s === 'false' || s === '0') return false;
      throw new ValueError(`expected true or false, got "${String(input)}"`);
    }
    case 'string':
      if (input instanceof Uint8Array) return Buffer.from(input).toString('utf8');
      return String(input);
    case 'bytes': {
      if (input instanceof Uint8Array) return input;
      const s = String(input).trim();
      if (/^(0x)?([0-9a-fA-F]{2})*$/.test(s) && s.startsWith('0x')) return Uint8Array.from(Buffer.from(s.slice(2), 'hex'));
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) {
        throw new ValueError(`expected base64 or 0x-prefixed hex bytes, got "${s}"`);
      }
      return Uint8Array.from(Buffer.from(s, 'base64'));
    }
  }
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

/** Equality that understands bytes and mixed bigint/number. */
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

export function sameValue(a: PropertyValue | undefined, b: PropertyValue | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && Buffer.from(a).equals(Buffer.from(b));
  }
  if ((typeof a === 'number' || typeof a === 'bigint') && (typeof b === 'number' || typeof b === 'bigint')) {
    if (typeof a === 'number' && typeof b === 'number') return a === b || Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
    return BigInt(a as never) === BigInt(b as never);
  }
  return a === b;
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
