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

/** Width of the checksum on the wire, in bytes. */
export function checksumWidth(c: ChecksumConfig): number {
  const raw = c.type === 'none' ? 0 : c.type.startsWith('crc16') ? 2 : 1;
  return c.encoding === 'hex' ? raw * 2 : raw;
}

/** The checksum's raw bytes (before any hex encoding) over bytes[from, to). */
function rawChecksum(c: ChecksumConfig, bytes: Uint8Array, from: number, to: number): number[] {
  switch (c.type) {
    case 'none': return [];
    case 'xor': return [xor(bytes, from, to)];
    case 'sum8': return [sum8(bytes, from, to)];
    case 'crc16-modbus':
    case 'crc16-ccitt': {
      const v = c.type === 'crc16-modbus' ? crc16Modbus(bytes, from, to) : crc16Ccitt(bytes, from, to);
      const little = (c.order ?? (c.type === 'crc16-modbus' ? 'little' : 'big')) === 'little';
      return little ? [v & 0xff, v >> 8] : [v >> 8, v & 0xff];
    }
  }
}

/** The checksum bytes, as they are written on the wire, over `covered`. */
export function checksumBytes(c: ChecksumConfig, covered: Uint8Array): Uint8Array {
  const raw = rawChecksum(c, covered, 0, covered.length);
  if (c.encoding !== 'hex') return Uint8Array.from(raw);
  const out = new Uint8Array(raw.length * 2);
  for (let i = 0; i < raw.length; i++) {
    out[2 * i] = HEX[raw[i]! >> 4]!;
    out[2 * i + 1] = HEX[raw[i]! & 15]!;
  }
  return out;
}

function position(index: number, length: number): number {
  return index < 0 ? length + index : index;
}

/** Verify a received frame; undefined when it is good, otherwise why not. Hex digits match in either case. */
export function verifyChecksum(c: ChecksumConfig, frame: Uint8Array): string | undefined {
  const width = checksumWidth(c);
  if (width === 0) return undefined;
  const at = position(c.at ?? -width, frame.length);
  const from = position(c.from ?? 0, frame.length);
  const to = c.to === undefined ? at : position(c.to, frame.length);
  if (at < 0 || at + width > frame.length || from < 0 || to < from || to > frame.length) {
    return `frame of ${frame.length} bytes is too short for its ${c.type} checksum`;
  }
  const raw = rawChecksum(c, frame, from, to);
  const hex = c.encoding === 'hex';
  let same = true;
  for (let i = 0; i < raw.length && same; i++) {
    if (hex) same = (frame[at + 2 * i]! | 0x20) === (HEX[raw[i]! >> 4]! | 0x20) && (frame[at + 2 * i + 1]! | 0x20) === (HEX[raw[i]! & 15]! | 0x20);
    else same = frame[at + i] === raw[i];
  }
  if (same) return undefined;
  const got = frame.subarray(at, at + width);
  const want = checksumBytes(c, frame.subarray(from, to));
  const show = (b: Uint8Array) => (hex ? Buffer.from(b).toString('latin1') : Buffer.from(b).toString('hex'));
  return `${c.type} checksum mismatch: frame says ${show(got)}, bytes give ${show(want)}`;
}

/** A command with its checksum appended, covering bytes `from` (default 0) to the end. */
export function appendChecksum(c: ChecksumConfig, command: Uint8Array): Uint8Array {
  if (c.type === 'none') return command;
  const from = position(c.from ?? 0, command.length);
  return Buffer.concat([command, checksumBytes(c, command.subarray(Math.max(0, from)))]);
}
