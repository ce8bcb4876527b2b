import { IoCodes } from '../../core/errors.ts';
// Modbus PDUs (function code + data), the same on TCP and RTU: building requests, checking and
// unpacking responses, and exception responses as errors with stable codes.

export const EXCEPTIONS: Record<number, string> = {
  1: 'illegal function (the device does not support this function code)',
  2: 'illegal data address (the register range is not mapped on the device)',
  3: 'illegal data value (the device refused the quantity or value)',
  4: 'server device failure',
  5: 'acknowledge (the device is still processing)',
  6: 'server device busy (retry later)',
  8: 'memory parity error',
  10: 'gateway path unavailable',
  11: 'gateway target device failed to respond (check the unit id and the serial side of the gateway)',
};

/** A frame that is not a valid answer: wrong length, wrong function, bad CRC. */
export class FrameError extends Error {
  constructor(readonly code: typeof IoCodes.MODBUS_SHORT_FRAME | typeof IoCodes.MODBUS_CRC | typeof IoCodes.MODBUS_BAD_RESPONSE, message: string) {
    super(message);
  }
}

/** The device answered with an exception code. */
export class ModbusException extends Error {
  readonly code: string;
  constructor(readonly exception: number, fc: number) {
    super(`Modbus exception ${exception} to function ${fc}: ${EXCEPTIONS[exception] ?? 'unknown exception code'}`);
    this.code = `MODBUS_EXCEPTION_${exception}`;
  }
}

function u16(n: number): [number, number] {
  return [(n >> 8) & 0xff, n & 0xff];
}

export function readRequest(fc: 1 | 2 | 3 | 4, address: number, count: number): Uint8Array {
  return Uint8Array.from([fc, ...u16(address), ...u16(count)]);
}

export function writeSingleCoil(address: number, on: boolean): Uint8Array {
  return Uint8Array.from([5, ...u16(address), on ? 0xff : 0, 0]);
}

export function writeSingleRegister(address: number, word: Uint8Array): Uint8Array {
  return Uint8Array.from([6, ...u16(address), word[0]!, word[1]!]);
}

export function writeMultipleRegisters(address: number, data: Uint8Array): Uint8Array {
  return Uint8Array.from([16, ...u16(address), ...u16(data.length / 2), data.length, ...data]);
}

/**
 * Length of the response PDU that `head` begins, or undefined when more bytes are needed to
 * tell (RTU frames carry no length, so it follows from the function code).
 */
export function responseLength(head: Uint8Array): number | undefined {
  if (head.length < 1) return undefined;
  const fc = head[0]!;
  if (fc & 0x80) return 2;
  if (fc >= 1 && fc <= 4) return head.length < 2 ? undefined : 2 + head[1]!;
  if (fc === 5 || fc === 6 || fc === 15 || fc === 16) return 5;
  return undefined;
}

/** Check a response PDU against its request; returns the data bytes (registers or packed bits). */
export function parseResponse(request: Uint8Array, response: Uint8Array): Uint8Array {
  const fc = request[0]!;
  if (response.length < 2) throw new FrameError(IoCodes.MODBUS_SHORT_FRAME, `a ${response.length}-byte response is too short to be a Modbus answer`);
  if (response[0] === (fc | 0x80)) throw new ModbusException(response[1]!, fc);
  if (response[0] !== fc) throw new FrameError(IoCodes.MODBUS_BAD_RESPONSE, `asked with function ${fc}, the device answered function ${response[0]}`);
  if (fc >= 1 && fc <= 4) {
    const count = (request[3]! << 8) | request[4]!;
    const expected = fc <= 2 ? Math.ceil(count / 8) : count * 2;
    const byteCount = response[1]!;
    if (byteCount !== expected || response.length !== 2 + byteCount) {
      throw new FrameError(IoCodes.MODBUS_SHORT_FRAME, `asked for ${count} ${fc <= 2 ? 'bits' : 'registers'} (${expected} bytes), the device answered ${Math.max(0, Math.min(byteCount, response.length - 2))} bytes`);
    }
    return response.subarray(2);
  }
  if (response.length !== 5) throw new FrameError(IoCodes.MODBUS_SHORT_FRAME, `a write answer must be 5 bytes, got ${response.length}`);
  return response.subarray(1);
}

/** Bit `i` (0-based) of packed coil/discrete bytes, as Modbus packs them (LSB first). */
export function bitAt(data: Uint8Array, i: number): boolean {
  return ((data[i >> 3]! >> (i & 7)) & 1) === 1;
}
