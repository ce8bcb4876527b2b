// configData across the DMI: the proto carries each configData key as a google.protobuf.Any.
// KubeEdge packs scalars in the well-known wrappers (StringValue, Int32Value, Int64Value,
// FloatValue, BoolValue); edgetwin does the same so a KubeEdge mapper reads what it expects, and
// packs what KubeEdge cannot (lists and maps, which driver configData has) as google.protobuf.Value.
// The wrappers are tiny, so they are encoded here at the wire level rather than by loading a
// second protobuf toolchain.

/**
 * An Any as @grpc/proto-loader hands it over or takes it. protobufjs defines the well-known types
 * from JSON, not from .proto text, so keepCase: false leaves their fields snake_case: type_url.
 */
export interface AnyMessage {
  typeUrl?: string;
  type_url?: string;
  value?: Uint8Array;
}

const PREFIX = 'type.googleapis.com/google.protobuf.';

export class ConfigDataError extends Error {
  override name = 'ConfigDataError';
}

// ---- writing ----

class Writer {
  private readonly parts: number[] = [];
  tag(field: number, wire: number): this {
    return this.varint(BigInt((field << 3) | wire));
  }
  varint(v: bigint): this {
    // Negative numbers are written as their 64-bit two's complement, as protobuf does.
    let n = BigInt.asUintN(64, v);
    while (n >= 0x80n) {
      this.parts.push(Number(n & 0x7fn) | 0x80);
      n >>= 7n;
    }
    this.parts.push(Number(n));
    return this;
  }
  bytes(b: Uint8Array): this {
    this.varint(BigInt(b.length));
    for (const x of b) this.parts.push(x);
    return this;
  }
  string(s: string): this {
    return this.bytes(new TextEncoder().encode(s));
  }
  fixed32Float(n: number): this {
    const b = Buffer.alloc(4);
    b.writeFloatLE(n);
    for (const x of b) this.parts.push(x);
    return this;
  }
  fixed64Double(n: number): this {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(n);
    for (const x of b) this.parts.push(x);
    return this;
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

/** The shortest decimal that reads back as the same float32, or undefined when n is not one. */
function float32Text(n: number): number | undefined {
  const f = Math.fround(n);
  if (!Number.isFinite(f)) return undefined;
  for (let p = 1; p <= 9; p++) {
    const shortest = Number(f.toPrecision(p));
    if (Math.fround(shortest) === f) return shortest === n ? n : undefined;
  }
  return undefined;
}

function packValue(v: unknown, key: string): Uint8Array {
  // google.protobuf.Value: null=1, number=2, string=3, bool=4, struct=5, list=6.
  const w = new Writer();
  if (v === null || v === undefined) w.tag(1, 0).varint(0n);
  else if (typeof v === 'number') w.tag(2, 1).fixed64Double(v);
  else if (typeof v === 'bigint') w.tag(2, 1).fixed64Double(Number(v));
  else if (typeof v === 'string') w.tag(3, 2).string(v);
  else if (typeof v === 'boolean') w.tag(4, 0).varint(v ? 1n : 0n);
  else if (Array.isArray(v)) {
    const list = new Writer();
    for (const item of v) list.tag(1, 2).bytes(packValue(item, key));
    w.tag(6, 2).bytes(list.finish());
  } else if (typeof v === 'object') {
    const struct = new Writer();
    for (const [k, item] of Object.entries(v as Record<string, unknown>)) {
      const entry = new Writer().tag(1, 2).string(k).tag(2, 2).bytes(packValue(item, key));
      struct.tag(1, 2).bytes(entry.finish());
    }
    w.tag(5, 2).bytes(struct.finish());
  } else throw new ConfigDataError(`configData.${key}: a ${typeof v} cannot cross the DMI`);
  return w.finish();
}

/** One configData value as an Any, the way KubeEdge's edgecore packs it for scalars. */
export function packAny(v: unknown, key: string): { type_url: string; value: Uint8Array } {
  if (typeof v === 'string') return { type_url: `${PREFIX}StringValue`, value: new Writer().tag(1, 2).string(v).finish() };
  if (typeof v === 'boolean') return { type_url: `${PREFIX}BoolValue`, value: new Writer().tag(1, 0).varint(v ? 1n : 0n).finish() };
  if (typeof v === 'bigint') return { type_url: `${PREFIX}Int64Value`, value: new Writer().tag(1, 0).varint(v).finish() };
  if (typeof v === 'number' && Number.isFinite(v)) {
    if (Number.isInteger(v)) {
      const int32 = v >= -(2 ** 31) && v < 2 ** 31;
      return { type_url: `${PREFIX}${int32 ? 'Int32Value' : 'Int64Value'}`, value: new Writer().tag(1, 0).varint(BigInt(v)).finish() };
    }
    // FloatValue as KubeEdge sends it when float32 holds the number exactly as written; else
    // DoubleValue, so a scale of 0.000123456789 is not rounded on the way.
    if (float32Text(v) !== undefined) return { type_url: `${PREFIX}FloatValue`, value: new Writer().tag(1, 5).fixed32Float(v).finish() };
    return { type_url: `${PREFIX}DoubleValue`, value: new Writer().tag(1, 1).fixed64Double(v).finish() };
  }
  return { type_url: `${PREFIX}Value`, value: packValue(v, key) };
}

export function packConfigData(data: Record<string, unknown> | undefined): { data: Record<string, { type_url: string; value: Uint8Array }> } | undefined {
  if (!data || Object.keys(data).length === 0) return undefined;
  const out: Record<string, { type_url: string; value: Uint8Array }> = {};
  for (const [k, v] of Object.entries(data)) if (v !== undefined) out[k] = packAny(v, k);
  return { data: out };
}

// ---- reading ----

class Reader {
  pos = 0;
  constructor(private readonly buf: Uint8Array, private readonly key: string) {}
  get done(): boolean {
    return this.pos >= this.buf.length;
  }
  fail(): never {
    throw new ConfigDataError(`configData.${this.key}: the Any's value is not valid protobuf`);
  }
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length || shift > 63n) this.fail();
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  }
  tag(): { field: number; wire: number } {
    const t = Number(this.varint());
    return { field: t >>> 3, wire: t & 7 };
  }
  bytes(): Uint8Array {
    const len = Number(this.varint());
    if (this.pos + len > this.buf.length) this.fail();
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
  fixed(n: 4 | 8): Buffer {
    if (this.pos + n > this.buf.length) this.fail();
    const out = Buffer.from(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.fixed(8);
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.fixed(4);
    else this.fail();
  }
}

function int64Number(v: bigint, signed: boolean): number | string {
  const n = signed ? BigInt.asIntN(64, v) : v;
  // configData is JSON-shaped: a number beyond 2^53 would silently change, so it stays text.
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
}

/** A wrapper message: field 1 of the given kind, or the default when absent (proto3). */
function unwrap(type: string, buf: Uint8Array, key: string): unknown {
  const r = new Reader(buf, key);
  let out: unknown;
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field !== 1) {
      r.skip(wire);
      continue;
    }
    switch (type) {
      case 'StringValue':
        out = new TextDecoder().decode(r.bytes());
        break;
      case 'BytesValue':
        out = Buffer.from(r.bytes()).toString('base64');
        break;
      case 'BoolValue':
        out = r.varint() !== 0n;
        break;
      case 'Int32Value':
        out = Number(BigInt.asIntN(32, r.varint()));
        break;
      case 'UInt32Value':
        out = Number(BigInt.asUintN(32, r.varint()));
        break;
      case 'Int64Value':
        out = int64Number(r.varint(), true);
        break;
      case 'UInt64Value':
        out = int64Number(r.varint(), false);
        break;
      case 'FloatValue': {
        const f = r.fixed(4).readFloatLE();
        out = float32Shortest(f);
        break;
      }
      case 'DoubleValue':
        out = r.fixed(8).readDoubleLE();
        break;
      default:
        r.fail();
    }
  }
  if (out !== undefined) return out;
  return { StringValue: '', BytesValue: '', BoolValue: false, FloatValue: 0, DoubleValue: 0 }[type] ?? 0;
}

/** 0.1 sent as a float32 arrives as 0.100000001490116: give back the decimal the sender wrote. */
function float32Shortest(f: number): number {
  if (!Number.isFinite(f)) return f;
  for (let p = 1; p <= 9; p++) {
    const n = Number(f.toPrecision(p));
    if (Math.fround(n) === f) return n;
  }
  return f;
}

function readValue(buf: Uint8Array, key: string): unknown {
  const r = new Reader(buf, key);
  let out: unknown = null;
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === 0) (r.varint(), (out = null));
    else if (field === 2 && wire === 1) out = r.fixed(8).readDoubleLE();
    else if (field === 3 && wire === 2) out = new TextDecoder().decode(r.bytes());
    else if (field === 4 && wire === 0) out = r.varint() !== 0n;
    else if (field === 5 && wire === 2) out = readStruct(r.bytes(), key);
    else if (field === 6 && wire === 2) out = readList(r.bytes(), key);
    else r.skip(wire);
  }
  return out;
}

function readStruct(buf: Uint8Array, key: string): Record<string, unknown> {
  const r = new Reader(buf, key);
  const out: Record<string, unknown> = {};
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field !== 1 || wire !== 2) {
      r.skip(wire);
      continue;
    }
    const entry = new Reader(r.bytes(), key);
    let k = '';
    let v: unknown = null;
    while (!entry.done) {
      const t = entry.tag();
      if (t.field === 1 && t.wire === 2) k = new TextDecoder().decode(entry.bytes());
      else if (t.field === 2 && t.wire === 2) v = readValue(entry.bytes(), key);
      else entry.skip(t.wire);
    }
    out[k] = v;
  }
  return out;
}

function readList(buf: Uint8Array, key: string): unknown[] {
  const r = new Reader(buf, key);
  const out: unknown[] = [];
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === 2) out.push(readValue(r.bytes(), key));
    else r.skip(wire);
  }
  return out;
}

const WRAPPERS = new Set(['StringValue', 'BytesValue', 'BoolValue', 'Int32Value', 'UInt32Value', 'Int64Value', 'UInt64Value', 'FloatValue', 'DoubleValue']);

/** One Any back to a JSON-shaped value; an unknown type is an error naming the key. */
export function unpackAny(any: AnyMessage, key: string): unknown {
  const url = any.typeUrl ?? any.type_url ?? '';
  const type = url.slice(url.lastIndexOf('/') + 1);
  const value = any.value ?? new Uint8Array();
  if (!type.startsWith('google.protobuf.')) {
    throw new ConfigDataError(`configData.${key} is packed as "${url}"; edgetwin reads the google.protobuf wrappers (StringValue, Int32Value, Int64Value, FloatValue, DoubleValue, BoolValue) and google.protobuf.Value`);
  }
  const short = type.slice('google.protobuf.'.length);
  if (short === 'Value') return readValue(value, key);
  if (short === 'Struct') return readStruct(value, key);
  if (short === 'ListValue') return readList(value, key);
  if (!WRAPPERS.has(short)) throw new ConfigDataError(`configData.${key} is packed as "${url}", which edgetwin does not read; pack it as a google.protobuf wrapper or google.protobuf.Value`);
  return unwrap(short, value, key);
}

export function unpackConfigData(cv: { data?: Record<string, AnyMessage> } | null | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, any] of Object.entries(cv?.data ?? {})) out[k] = unpackAny(any, k);
  return out;
}
