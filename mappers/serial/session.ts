// One device's view of a shared serial port: its own frame reader over every byte the port
// receives, one request at a time on the bus (link.exclusive), and unsolicited frames handed to
// the stream handler. Answers that do not fit are counted and skipped until the timeout, whose
// error then says what did arrive: nothing, a partial frame, bad checksums, or unexpected answers.

import { codedError, type SerialLink } from '../sdk/index.ts';
import type { Logger } from '../../core/log.ts';
import { specBytes } from './bytes.ts';
import { appendChecksum } from './checksum.ts';
import type { SerialProtocol } from './config.ts';
import { preview } from './extract.ts';
import { frameOut, FrameReader, type Frame } from './framer.ts';
import { IoCodes } from '../../core/errors.ts';

/** What a request's answer check says about one frame: not mine (undefined), a result, or a device error. */
export type Verdict<T> = undefined | { ok: T } | { deviceError: string };

export class PortSession {
  readonly reader: FrameReader;
  /** Frames that passed framing and checksum but no pattern wanted. */
  unmatched = 0;
  lastUnmatched?: Frame;
  onStream?: (frame: Frame) => boolean;
  /** Every frame of what just arrived has gone to onStream. */
  onStreamFlush?: () => void;
  readonly #link: SerialLink;
  readonly #config: SerialProtocol;
  readonly #log: Logger;
  #waiter?: (frame: Frame) => boolean;
  #closed = false;
  #settled = false;
  #delimiter?: Uint8Array;
  readonly #onData = (chunk: Buffer) => {
    if (this.#settled) this.reader.push(chunk);
  };

  readonly #count: (event: string, n?: number) => void;

  /**
   * `count` is the driver context's: frames dropped for their checksum or shape become a metric.
   * Frames no pattern wanted are not counted there: on a shared bus they are mostly the answers
   * to the other devices' requests.
   */
  constructor(link: SerialLink, config: SerialProtocol, log: Logger, lost: (err: Error) => void, count: (event: string, n?: number) => void = () => {}) {
    this.#link = link;
    this.#count = count;
    this.#config = config;
    this.#log = log;
    // A noisy line can drop hundreds of frames a second: one log line per 10 s, with the count.
    let loggedAt = 0;
    let loggedBad = 0;
    this.reader = new FrameReader(config.framing, config.checksum, {
      frame: (f) => this.#dispatch(f),
      flush: () => this.onStreamFlush?.(),
      bad: (reason) => {
        this.#count('frames_dropped');
        const now = Date.now();
        if (now - loggedAt < 10_000) return;
        const stats = this.reader.stats;
        log.warn({ port: config.serialPort, reason, dropped: stats.bad - loggedBad, badFrames: stats.bad, frames: stats.frames }, 'serial frames dropped');
        loggedAt = now;
        loggedBad = stats.bad;
      },
    });
    link.port.on('data', this.#onData);
    void link.closed.then((err) => {
      if (!this.#closed) lost(codedError(IoCodes.CONNECTION_RESET, `serial port ${config.serialPort} closed: ${err.message}`));
    });
  }

  /**
   * Ignore what arrives in the first `ms` after the port opens: a late answer to a request of the
   * session before (the gateway restarted, the device was reconfigured) would otherwise be taken
   * for the answer to this session's first request.
   */
  async settle(ms: number): Promise<void> {
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
    this.#settled = true;
  }

  close(): void {
    this.#closed = true;
    this.#link.port.off('data', this.#onData);
    this.reader.close();
  }

  #dispatch(frame: Frame): void {
    if (this.#waiter?.(frame)) return;
    if (this.onStream?.(frame)) return;
    this.unmatched++;
    this.lastUnmatched = frame;
    if (this.#log.isLevelEnabled('debug')) this.#log.debug({ port: this.#config.serialPort, frame: preview(frame.bytes) }, 'serial frame matched nothing');
  }

  /** Frame a command (checksum, delimiter or markers) into the bytes to send. */
  encode(command: Uint8Array): Uint8Array {
    // Templates usually end with the delimiter ("MEAS?\n"); framing adds it, after any checksum.
    const framing = this.#config.framing;
    if (framing.type === 'delimiter') {
      const d = this.#delimiter ??= specBytes(framing.delimiter ?? '\n');
      if (command.length >= d.length && Buffer.from(command.subarray(command.length - d.length)).equals(d)) command = command.subarray(0, command.length - d.length);
    }
    return frameOut(framing, this.#config.checksum ? appendChecksum(this.#config.checksum, command) : command);
  }

  #send(bytes: Uint8Array): void {
    if (!this.#link.isOpen) throw codedError(IoCodes.CONNECTION_RESET, `serial port ${this.#config.serialPort} is closed`);
    this.#link.port.write(bytes);
  }

  /** Send without waiting for an answer. */
  send(command: Uint8Array): Promise<void> {
    return this.#link.exclusive(async () => this.#send(this.encode(command)));
  }

  /**
   * Send `command` (or nothing, to wait for an unsolicited frame) and resolve with the first frame
   * `check` accepts. Runs alone on the bus.
   */
  request<T>(command: Uint8Array | undefined, check: (frame: Frame) => Verdict<T>, what: string, signal: AbortSignal): Promise<T> {
    return this.#link.exclusive(() => new Promise<T>((resolve, reject) => {
      if (command) this.reader.discardPending();
      const bad0 = this.reader.stats.bad;
      let unexpected = 0;
      let last: Frame | undefined;
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.#waiter = undefined;
      };
      const onAbort = () => { done(); reject(signal.reason); };
      const timer = setTimeout(() => {
        done();
        reject(this.#timeoutError(what, this.reader.stats.bad - bad0, unexpected, last));
      }, this.#config.timeout);
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiter = (frame) => {
        const verdict = check(frame);
        if (verdict === undefined) {
          unexpected++;
          last = frame;
          return false;
        }
        done();
        if ('ok' in verdict) resolve(verdict.ok);
        else reject(codedError(IoCodes.DEVICE, `the instrument answered: ${verdict.deviceError}`));
        return true;
      };
      try {
        if (command) this.#send(this.encode(command));
      } catch (err) {
        done();
        reject(err);
      }
    }));
  }

  #timeoutError(what: string, bad: number, unexpected: number, last: Frame | undefined): Error {
    const ms = this.#config.timeout;
    const stats = this.reader.stats;
    if (bad > 0) return codedError(IoCodes.BAD_FRAME, `no valid ${what} within ${ms} ms: ${bad} frame${bad > 1 ? 's' : ''} dropped (${stats.lastError ?? 'bad frame'})`);
    if (unexpected > 0) return codedError(IoCodes.FORMAT, `no ${what} within ${ms} ms: ${unexpected} frame${unexpected > 1 ? 's' : ''} did not match, last ${preview(last!.bytes)}`);
    if (this.reader.pending > 0) return codedError(IoCodes.PARTIAL, `${what} incomplete after ${ms} ms: ${this.reader.pending} bytes arrived without the end of a frame`);
    const at = this.#config.address !== undefined ? ` at address ${String(this.#config.address)}` : '';
    return codedError(IoCodes.TIMED_OUT, `no ${what} within ${ms} ms (is the instrument${at} connected, powered and set to ${this.#link.settings.baudRate} baud?)`);
  }
}

