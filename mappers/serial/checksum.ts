// Frame checksums: where they sit in a frame, which bytes they cover, and how they are written.

export type ChecksumType = 'none' | 'xor' | 'sum8' | 'crc16-modbus' | 'crc16-ccitt';

export interface ChecksumConfig {
  type: ChecksumType;
  /** First covered byte (negative counts from the end); default 0. */
  from?: number;
  /** End of the covered bytes, exclusive (negative counts from the end); default where the checksum starts. */
  to?: number;
  /** Where the checksum starts in a received frame (negative counts from the end); default at the end. */
  at?: number;
  /** binary bytes, or ASCII hex digits (two per byte) as text protocols write them; default binary. */
  encoding?: 'binary' | 'hex';
  /** Byte order of a 16-bit checksum; default little for crc16-modbus, big for crc16-ccitt. */
  order?: 'big' | 'little';
}

const HEX = Buffer.from('0123456789ABCDEF', 'latin1');

function xor(bytes: Uint8Array, from: number, to: number): number {
  let x = 0;
  for (let i = from; i < to; i++) x ^= bytes[i]!;
  return x;
}

function sum8(bytes: Uint8Array, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) s = (s + bytes[i]!) & 0xff;
  return s;
}

// Byte-at-a-time tables: a stream of small frames spends much of its time here.
const MODBUS_TABLE = Uint16Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let i = 0; i < 8; i++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
  return c;
});
const CCITT_TABLE = Uint16Array.from({ length: 256 }, (_, n) => {
  let c = n << 8;
  for (let i = 0; i < 8; i++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
  return c;
});

export function crc16Modbus(bytes: Uint8Array, from = 0, to = bytes.length): number {
  let crc = 0xffff;
  for (let i = from; i < to; i++) crc = (crc >>> 8) ^ MODBUS_TABLE[(crc ^ bytes[i]!) & 0xff]!;
  return crc;
}

/** CRC-16/CCITT-FALSE: polynomial 0x1021, initial 0xFFFF. */
export function crc16Ccitt(bytes: Uint8Array, from = 0, to = bytes.length): number {
  let crc = 0xffff;
  for (let i = from; i < to; i++) crc = ((crc << 8) & 0xffff) ^ CCITT_TABLE[((crc >>> 8) ^ bytes[i]!) & 0xff]!;
  return crc;
}

type Compute = (bytes: Uint8Array, from: number, to: number) => number;

const COMPUTE: Record<ChecksumType, Compute> = {
  'none': () => 0,
  'xor': xor,
  'sum8': sum8,
  'crc16-modbus': crc16Modbus,
  'crc16-ccitt': crc16Ccitt,
};

function position(index: number, length: number): number {
  return index < 0 ? length + index : index;
}

/**
 * A checksum configuration resolved once (algorithm, width, byte order, placement): a reader
 * checks every frame of a stream with it, so nothing is looked up per frame.
 */
export class ChecksumRule {
  readonly config: ChecksumConfig;
  /** Bytes on the wire (hex doubles them). */
  readonly width: number;
  readonly #raw: number;
  readonly #hex: boolean;
  readonly #little: boolean;
  readonly #compute: Compute;

  constructor(c: ChecksumConfig) {
    this.config = c;
    this.#raw = c.type === 'none' ? 0 : c.type.startsWith('crc16') ? 2 : 1;
    this.#hex = c.encoding === 'hex';
    this.width = this.#hex ? this.#raw * 2 : this.#raw;
    this.#little = (c.order ?? (c.type === 'crc16-modbus' ? 'little' : 'big')) === 'little';
    this.#compute = COMPUTE[c.type];
  }

  /** Where the checksum starts in a frame of `length` bytes. */
  at(length: number): number {
    return position(this.config.at ?? -this.width, length);
  }

  /** Raw byte `i` of a checksum value, in its wire order. */
  #byte(value: number, i: number): number {
    if (this.#raw === 1) return value & 0xff;
    return (this.#little ? i === 0 : i === 1) ? value & 0xff : value >> 8;
  }

  /** The checksum bytes, as they are written on the wire, over `covered`. */
  bytes(covered: Uint8Array): Uint8Array {
    const value = this.#compute(covered, 0, covered.length);
    const out = new Uint8Array(this.width);
    for (let i = 0; i < this.#raw; i++) {
      const b = this.#byte(value, i);
      if (!this.#hex) out[i] = b;
      else {
        out[2 * i] = HEX[b >> 4]!;
        out[2 * i + 1] = HEX[b & 15]!;
      }
    }
    return out;
  }

  /**
   * Verify the frame bytes[start, end); undefined when it is good, otherwise why not. Hex digits
   * match in either case. It works on a range of the reader's buffer and allocates nothing for a
   * good frame.
   */
  verify(bytes: Uint8Array, start = 0, end = bytes.length): string | undefined {
    const width = this.width;
    if (width === 0) return undefined;
    const c = this.config;
    const length = end - start;
    const at = this.at(length);
    const from = c.from === undefined ? 0 : position(c.from, length);
    const to = c.to === undefined ? at : position(c.to, length);
    if (at < 0 || at + width > length || from < 0 || to < from || to > length) {
      return `frame of ${length} bytes is too short for its ${c.type} checksum`;
    }
    const value = this.#compute(bytes, start + from, start + to);
    const base = start + at;
    let same = true;
    for (let i = 0; i < this.#raw && same; i++) {
      const b = this.#byte(value, i);
      if (this.#hex) same = (bytes[base + 2 * i]! | 0x20) === (HEX[b >> 4]! | 0x20) && (bytes[base + 2 * i + 1]! | 0x20) === (HEX[b & 15]! | 0x20);
      else same = bytes[base + i] === b;
    }
    if (same) return undefined;
    const got = bytes.subarray(base, base + width);
    const want = this.bytes(bytes.subarray(start + from, start + to));
    const show = (b: Uint8Array) => (this.#hex ? Buffer.from(b).toString('latin1') : Buffer.from(b).toString('hex'));
    return `${c.type} checksum mismatch: frame says ${show(got)}, bytes give ${show(want)}`;
  }
}

/** The checksum bytes, as they are written on the wire, over `covered`. */
export function checksumBytes(c: ChecksumConfig, covered: Uint8Array): Uint8Array {
  return new ChecksumRule(c).bytes(covered);
}

/** Verify one frame (see ChecksumRule.verify; a reader keeps the rule instead). */
export function verifyChecksum(c: ChecksumConfig, bytes: Uint8Array, start = 0, end = bytes.length): string | undefined {
  return new ChecksumRule(c).verify(bytes, start, end);
}

/** A command with its checksum appended, covering bytes `from` (default 0) to the end. */
export function appendChecksum(c: ChecksumConfig, command: Uint8Array): Uint8Array {
  if (c.type === 'none') return command;
  const from = position(c.from ?? 0, command.length);
  return Buffer.concat([command, checksumBytes(c, command.subarray(Math.max(0, from)))]);
}
