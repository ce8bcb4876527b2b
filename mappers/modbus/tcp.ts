// Modbus TCP: MBAP framing on one socket, answers matched to requests by transaction id, so several
// requests may be in flight (the link's scheduler decides how many). A link that stays silent
// through consecutive timeouts counts as dead (a pulled cable never closes the socket).

import { connect, type Socket } from 'node:net';
import { codedError, errorCode } from '../sdk/index.ts';
import type { Transport } from './transport.ts';

interface Pending {
  unit: number;
  resolve(pdu: Uint8Array): void;
  reject(err: Error): void;
}

/** Timeouts in a row, with nothing heard in between, after which the connection is dropped. */
const SILENT_TIMEOUTS = 2;

export class TcpTransport implements Transport {
  readonly #socket: Socket;
  readonly #pending = new Map<number, Pending>();
  readonly #listeners = new Set<(err: Error) => void>();
  #buffer: Buffer = Buffer.alloc(0);
  #tid = 0;
  #silentTimeouts = 0;
  #dead = false;
  #corked = false;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('error', (err) => this.#die(err));
    socket.on('close', () => this.#die(codedError('ECONNRESET', 'the device closed the Modbus TCP connection')));
  }

  /** Connect, giving up after `timeoutMs` (a pulled cable answers no SYN; the OS would wait minutes). */
  static open(host: string, port: number, timeoutMs: number): Promise<TcpTransport> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port });
      const timer = setTimeout(() => fail(codedError('ETIMEDOUT', `connecting to ${host}:${port} timed out after ${timeoutMs} ms`)), timeoutMs);
      const fail = (err: Error) => { clearTimeout(timer); socket.destroy(); reject(err); };
      socket.once('error', fail);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', fail);
        resolve(new TcpTransport(socket));
      });
    });
  }

  get dead(): boolean {
    return this.#dead;
  }

  onLost(listener: (err: Error) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  request(unit: number, pdu: Uint8Array, signal: AbortSignal): Promise<Uint8Array> {
    if (this.#dead) return Promise.reject(codedError('ENOTCONN', 'the Modbus TCP connection is closed'));
    if (signal.aborted) return Promise.reject(signal.reason);
    let tid = this.#tid;
    do tid = (tid + 1) & 0xffff; while (this.#pending.has(tid));
    this.#tid = tid;
    const frame = Buffer.alloc(7 + pdu.length);
    frame.writeUInt16BE(tid, 0);
    frame.writeUInt16BE(0, 2);
    frame.writeUInt16BE(pdu.length + 1, 4);
    frame[6] = unit;
    frame.set(pdu, 7);
    return new Promise<Uint8Array>((resolve, reject) => {
      const onAbort = () => {
        if (!this.#pending.delete(tid)) return;
        reject(signal.reason);
        // Only a timeout says anything about the line; a device stopping cancels its request.
        if (errorCode(signal.reason, '') === 'ETIMEDOUT' && ++this.#silentTimeouts >= SILENT_TIMEOUTS) {
          this.#socket.destroy();
          this.#die(codedError('ETIMEDOUT', `no answer on the connection through ${SILENT_TIMEOUTS} request timeouts in a row`));
        }
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(tid, {
        unit,
        resolve: (r) => { signal.removeEventListener('abort', onAbort); resolve(r); },
        reject: (e) => { signal.removeEventListener('abort', onAbort); reject(e); },
      });
      // Requests issued in one tick (maxInFlight > 1) leave in one segment: one syscall, not eight.
      if (!this.#corked) {
        this.#corked = true;
        this.#socket.cork();
        process.nextTick(() => { this.#corked = false; this.#socket.uncork(); });
      }
      this.#socket.write(frame);
    });
  }

  #receive(chunk: Buffer): void {
    this.#buffer = this.#buffer.length ? Buffer.concat([this.#buffer, chunk]) : chunk;
    while (this.#buffer.length >= 7) {
      const length = this.#buffer.readUInt16BE(4);
      if (this.#buffer.readUInt16BE(2) !== 0 || length < 2 || length > 254) {
        this.#socket.destroy();
        this.#die(codedError('MODBUS_BAD_RESPONSE', `the device sent a frame that is not Modbus TCP (protocol ${this.#buffer.readUInt16BE(2)}, length ${length})`));
        return;
      }
      if (this.#buffer.length < 6 + length) return;
      const tid = this.#buffer.readUInt16BE(0);
      const unit = this.#buffer[6]!;
      const pdu = Uint8Array.prototype.slice.call(this.#buffer, 7, 6 + length);
      this.#buffer = this.#buffer.subarray(6 + length);
      this.#silentTimeouts = 0;
      const pending = this.#pending.get(tid);
      // An answer to a request that already timed out: nobody waits for it any more.
      if (!pending) continue;
      this.#pending.delete(tid);
      if (pending.unit !== unit) pending.reject(codedError('MODBUS_BAD_RESPONSE', `asked unit ${pending.unit}, the answer came from unit ${unit}`));
      else pending.resolve(pdu);
    }
  }

  #die(err: Error): void {
    if (this.#dead) return;
    this.#dead = true;
    for (const p of this.#pending.values()) p.reject(codedError('ECONNRESET', `the Modbus TCP connection broke: ${err.message}`));
    this.#pending.clear();
    for (const listener of [...this.#listeners]) listener(err);
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    if (this.#socket.destroyed) return this.#die(codedError('ECONNRESET', 'closed'));
    await new Promise<void>((resolve) => {
      this.#socket.once('close', () => resolve());
      this.#socket.destroy();
    });
  }
}
