// Modbus TCP: MBAP framing on one socket, answers matched to requests by transaction id, so several
// requests may be in flight (the link's scheduler decides how many). A link that stays silent
// through consecutive timeouts counts as dead (a pulled cable never closes the socket).

import { connect, type Socket } from 'node:net';
import { codedError, errorCode } from '../sdk/index.ts';
import { Lifeline, type Transport } from './transport.ts';
import { IoCodes } from '../../core/errors.ts';

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
  readonly #life = new Lifeline();
  #buffer: Buffer = Buffer.alloc(0);
  #tid = 0;
  #silentTimeouts = 0;
  #corked = false;
  #wroteThisTick = false;
  readonly #endTick = () => {
    this.#wroteThisTick = false;
    if (!this.#corked) return;
    this.#corked = false;
    this.#socket.uncork();
  };

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('error', (err) => this.#die(err));
    socket.on('close', () => this.#die(codedError(IoCodes.CONNECTION_RESET, 'the device closed the Modbus TCP connection')));
  }

  /** Connect, giving up after `timeoutMs` (a pulled cable answers no SYN; the OS would wait minutes). */
  static open(host: string, port: number, timeoutMs: number): Promise<TcpTransport> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port });
      const timer = setTimeout(() => fail(codedError(IoCodes.TIMED_OUT, `connecting to ${host}:${port} timed out after ${timeoutMs} ms`)), timeoutMs);
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
    return this.#life.dead;
  }

  onLost(listener: (err: Error) => void): () => void {
    return this.#life.onLost(listener);
  }

  request(unit: number, pdu: Uint8Array, signal: AbortSignal): Promise<Uint8Array> {
    if (this.#life.dead) return Promise.reject(codedError(IoCodes.NOT_CONNECTED, 'the Modbus TCP connection is closed'));
    if (signal.aborted) return Promise.reject(signal.reason);
    let tid = this.#tid;
    do tid = (tid + 1) & 0xffff; while (this.#pending.has(tid));
    this.#tid = tid;
    const frame = Buffer.allocUnsafe(7 + pdu.length);
    frame[0] = tid >> 8;
    frame[1] = tid & 0xff;
    frame[2] = 0;
    frame[3] = 0;
    frame[4] = (pdu.length + 1) >> 8;
    frame[5] = (pdu.length + 1) & 0xff;
    frame[6] = unit;
    frame.set(pdu, 7);
    return new Promise<Uint8Array>((resolve, reject) => {
      const onAbort = () => {
        if (!this.#pending.delete(tid)) return;
        reject(signal.reason);
        // Only a timeout says anything about the line; a device stopping cancels its request.
        if (errorCode(signal.reason, '') === IoCodes.TIMED_OUT && ++this.#silentTimeouts >= SILENT_TIMEOUTS) {
          this.#socket.destroy();
          this.#die(codedError(IoCodes.TIMED_OUT, `no answer on the connection through ${SILENT_TIMEOUTS} request timeouts in a row`));
        }
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(tid, {
        unit,
        resolve: (r) => { signal.removeEventListener('abort', onAbort); resolve(r); },
        reject: (e) => { signal.removeEventListener('abort', onAbort); reject(e); },
      });
      // Requests issued in one tick (maxInFlight > 1) leave together: the first goes at once, and
      // from the second on the socket is corked until the tick ends, so eight requests cost two
      // syscalls, not eight, while a lone request pays no cork at all.
      if (this.#wroteThisTick && !this.#corked) {
        this.#corked = true;
        this.#socket.cork();
      }
      if (!this.#wroteThisTick) {
        this.#wroteThisTick = true;
        process.nextTick(this.#endTick);
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
        this.#die(codedError(IoCodes.MODBUS_BAD_RESPONSE, `the device sent a frame that is not Modbus TCP (protocol ${this.#buffer.readUInt16BE(2)}, length ${length})`));
        return;
      }
      if (this.#buffer.length < 6 + length) return;
      const tid = this.#buffer.readUInt16BE(0);
      const unit = this.#buffer[6]!;
      // A plain Uint8Array copy: drivers cut every property's bytes out of it, and a Buffer's
      // subarray costs several times a Uint8Array's.
      const start = this.#buffer.byteOffset + 7;
      const pdu = new Uint8Array(this.#buffer.buffer.slice(start, start + length - 1));
      this.#buffer = this.#buffer.subarray(6 + length);
      this.#silentTimeouts = 0;
      const pending = this.#pending.get(tid);
      // An answer to a request that already timed out: nobody waits for it any more.
      if (!pending) continue;
      this.#pending.delete(tid);
      if (pending.unit !== unit) pending.reject(codedError(IoCodes.MODBUS_BAD_RESPONSE, `asked unit ${pending.unit}, the answer came from unit ${unit}`));
      else pending.resolve(pdu);
    }
  }

  #die(err: Error): void {
    if (this.#life.dead) return;
    for (const p of this.#pending.values()) p.reject(codedError(IoCodes.CONNECTION_RESET, `the Modbus TCP connection broke: ${err.message}`));
    this.#pending.clear();
    this.#life.end(err);
  }

  async close(): Promise<void> {
    this.#life.forget();
    if (this.#socket.destroyed) return this.#die(codedError(IoCodes.CONNECTION_RESET, 'closed'));
    await new Promise<void>((resolve) => {
      this.#socket.once('close', () => resolve());
      this.#socket.destroy();
    });
  }
}
