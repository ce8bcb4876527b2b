// Modbus RTU on a serial bus: unit + PDU + CRC16, one request at a time on the bus (the SDK's
// serial link serializes every device on the port), with the 3.5-character silence between
// frames the specification asks for.

import type { Duplex } from 'node:stream';
import { codedError, type SerialLink } from '../sdk/index.ts';
import { FrameError, responseLength } from './pdu.ts';
import { Lifeline, type Transport } from './transport.ts';
import { IoCodes } from '../../core/errors.ts';

/** CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF), sent low byte first. */
export function crc16(bytes: Uint8Array, end = bytes.length): number {
  let crc = 0xffff;
  for (let i = 0; i < end; i++) {
    crc ^= bytes[i]!;
    for (let b = 0; b < 8; b++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

export function rtuFrame(unit: number, pdu: Uint8Array): Uint8Array {
  const frame = new Uint8Array(pdu.length + 3);
  frame[0] = unit;
  frame.set(pdu, 1);
  const crc = crc16(frame, pdu.length + 1);
  frame[pdu.length + 1] = crc & 0xff;
  frame[pdu.length + 2] = crc >> 8;
  return frame;
}

/** t3.5 in ms: 3.5 characters of 11 bits, fixed at 1.75 ms above 19200 baud as the specification says. */
export function interFrameMs(baudRate: number): number {
  return baudRate > 19200 ? 1.75 : (3.5 * 11 * 1000) / baudRate;
}

/**
 * A frame that started and then went quiet this long ended short. Generous, because USB serial
 * adapters deliver bytes in bursts (FTDI's latency timer is 16 ms).
 */
const SHORT_FRAME_SILENCE_MS = 50;

export class RtuTransport implements Transport {
  readonly #link: SerialLink;
  readonly #gapMs: number;
  readonly #life = new Lifeline();
  readonly #onData = (chunk: Buffer) => this.#receive(chunk);
  readonly #onClose = () => this.#die(codedError(IoCodes.CONNECTION_RESET, `serial port ${this.#link.settings.path} closed`));
  #rx: Buffer = Buffer.alloc(0);
  #waiter?: () => void;
  #lastFrameAt = 0;

  constructor(link: SerialLink, readonly release: () => Promise<void>) {
    this.#link = link;
    this.#gapMs = interFrameMs(link.settings.baudRate);
    link.port.on('data', this.#onData);
    link.port.on('close', this.#onClose);
    link.port.on('error', this.#onClose);
  }

  get dead(): boolean {
    return this.#life.dead;
  }

  onLost(listener: (err: Error) => void): () => void {
    return this.#life.onLost(listener);
  }

  request(unit: number, pdu: Uint8Array, signal: AbortSignal): Promise<Uint8Array> {
    if (this.#life.dead) return Promise.reject(codedError(IoCodes.NOT_CONNECTED, `serial port ${this.#link.settings.path} is closed`));
    return this.#link.exclusive((port) => this.#exchange(port, unit, pdu, signal));
  }

  async #exchange(port: Duplex, unit: number, pdu: Uint8Array, signal: AbortSignal): Promise<Uint8Array> {
    if (signal.aborted) throw signal.reason;
    const wait = this.#lastFrameAt + this.#gapMs - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, Math.ceil(wait)));
    // Whatever arrived between exchanges (a late answer to a timed-out request) is not ours.
    this.#rx = Buffer.alloc(0);
    try {
      port.write(rtuFrame(unit, pdu));
      if (unit === 0) return new Uint8Array(0);
      return await this.#response(unit, signal);
    } finally {
      this.#waiter = undefined;
      this.#lastFrameAt = performance.now();
    }
  }

  #response(unit: number, signal: AbortSignal): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      let silence: NodeJS.Timeout | undefined;
      const finish = (err: Error | undefined, value?: Uint8Array) => {
        clearTimeout(silence);
        signal.removeEventListener('abort', onAbort);
        this.#waiter = undefined;
        if (err) reject(err);
        else resolve(value!);
      };
      const onAbort = () => finish(signal.reason instanceof Error ? signal.reason : codedError(IoCodes.TIMED_OUT, 'no answer'));
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiter = () => {
        const rx = this.#rx;
        const length = rx.length >= 2 ? responseLength(rx.subarray(1)) : undefined;
        if (length !== undefined && rx.length >= length + 3) {
          const frame = rx.subarray(0, length + 3);
          const crc = crc16(frame, length + 1);
          if (frame[length + 1] !== (crc & 0xff) || frame[length + 2] !== crc >> 8) return finish(new FrameError(IoCodes.MODBUS_CRC, `CRC mismatch in the answer from unit ${unit} (noise on the line, or two devices answering)`));
          if (frame[0] !== unit) return finish(codedError(IoCodes.MODBUS_BAD_RESPONSE, `asked unit ${unit}, unit ${frame[0]} answered`));
          return finish(undefined, new Uint8Array(frame.subarray(1, length + 1)));
        }
        clearTimeout(silence);
        silence = setTimeout(() => finish(new FrameError(IoCodes.MODBUS_SHORT_FRAME, `unit ${unit} sent ${this.#rx.length} bytes and went quiet before the frame was complete`)), SHORT_FRAME_SILENCE_MS);
      };
      if (this.#rx.length) this.#waiter();
    });
  }

  #receive(chunk: Buffer): void {
    this.#rx = this.#rx.length ? Buffer.concat([this.#rx, chunk]) : chunk;
    this.#waiter?.();
  }

  #die(err: Error): void {
    this.#life.end(err);
  }

  async close(): Promise<void> {
    this.#life.forget();
    this.#link.port.off('data', this.#onData);
    this.#link.port.off('close', this.#onClose);
    this.#link.port.off('error', this.#onClose);
    this.#life.end();
    await this.release();
  }
}
