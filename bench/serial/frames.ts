// The bench's frame: 20 bytes of text with a CRC, as a streaming instrument sends them:
// F<8-digit sequence>,+12.3<crc16-modbus as 4 hex digits>\n

import { checksumBytes } from '../../mappers/serial/checksum.ts';

export const FRAME_BYTES = 20;
/** 115200 baud at 8N1 carries 11,520 bytes a second: the physical limit of such a line. */
export const LINE_BYTES_PER_SECOND = 11_520;

export function frame(seq: number): Buffer {
  const body = Buffer.from(`F${String(seq % 1e8).padStart(8, '0')},+12.3`, 'latin1');
  return Buffer.concat([body, checksumBytes({ type: 'crc16-modbus', encoding: 'hex' }, body), Buffer.of(0x0a)]);
}

/** The sequence number of a frame's text (delimiter already removed), or -1. */
export function seqOf(text: string): number {
  return text.charCodeAt(0) === 70 ? Number(text.slice(1, 9)) : -1;
}

/** Wall-clock ms with sub-ms precision, comparable across processes. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}
