// $ke/events/device/{id}/data/update written straight into bytes. It runs for every value a gateway
// reports, so it makes no string per value: property names arrive pre-encoded (the twin keeps them
// per property), numbers and ASCII texts are copied byte by byte, constant runs from precomputed
// bytes, and the message leaves as a Buffer the broker writes to its subscribers' sockets as is.
// The bytes are exactly what JSON.stringify-style concatenation made before
// (twin/data-update.test.ts holds both side by side), so no subscriber sees a difference.

import { randomFillSync } from 'node:crypto';
import type { ReportedUpdate } from './types.ts';

const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');

const HEAD = ascii('{"event_id":"');
const HEAD_TIME = ascii('","timestamp":');
const HEAD_DATA = ascii(',"data":{');
const VALUE = ascii(':{"value":');
const METADATA = ascii(',"metadata":{"timestamp":');
/** The closing quote of a value that is not JSON-escaped, then the metadata's opening. */
const QUOTE_METADATA = ascii('","metadata":{"timestamp":');
const ERROR_CODE = ascii(',"error":{"code":');
const ERROR_MESSAGE = ascii(',"message":');
const ERROR_CLOSE = ascii('}}}');
const QUOTE = 34;
const COMMA = 44;
const CLOSE = 125;

/**
 * What follows a value's timestamp, for each known type and quality, so a value copies one run of
 * bytes: `,"type":"<type>","quality":"<quality>"`, then `,"persisted":"false"` when the store refused
 * the write, then either the entry's closing `}}` (index 0 and 1) or nothing, for an error to follow
 * (index 2 and 3); odd indexes are the not-persisted ones.
 */
const TYPES = ['int', 'float', 'double', 'string', 'boolean', 'bytes'] as const;
const QUALITIES = ['good', 'uncertain', 'bad'] as const;
const tails = (type: string, quality: string): Buffer[] => {
  const tq = `,"type":"${type}","quality":"${quality}"`;
  const pf = ',"persisted":"false"';
  return [`${tq}}}`, `${tq}${pf}}}`, tq, `${tq}${pf}`].map((t) => Buffer.from(t, 'utf8'));
};
const TAILS = new Map(TYPES.map((t) => [t as string, new Map(QUALITIES.map((q) => [q as string, tails(t, q)]))]));

/** Hex digits, and random bytes drawn 4 KB at a time for the event ids (version 4 UUIDs). */
const HEX = ascii('0123456789abcdef');
const RANDOM = Buffer.allocUnsafe(4096);
let randomAt = RANDOM.length;

/** Bytes a value can take beyond its texts: the fixed keys, two 20-digit numbers, the flags. */
const VALUE_OVERHEAD = 160;
/**
 * Each message is written into one scratch buffer, reused, then copied into a Buffer of its own
 * (Buffer.allocUnsafe: Node's 8 KB pool for small ones). Handing out views of a shared slab instead
 * saved the copy, but a view held by a slow subscriber's queue (or a persistent session's stored
 * messages) kept its whole slab alive: 64 KB pinned by a 150-byte message of a sparse topic.
 */
const SCRATCH_BYTES = 64 * 1024;

/** A property's entry opening in data/update, `"<name>":{"value":` as UTF-8, for a ReportedUpdate's `dataKey`. */
export function dataKey(property: string): Buffer {
  return Buffer.from(`${JSON.stringify(property)}:{"value":`, 'utf8');
}

export class DataUpdateWriter {
  #buf = Buffer.allocUnsafeSlow(SCRATCH_BYTES);
  /** Where the next byte goes in the scratch buffer (a message starts at 0). */
  #at = 0;
  /** The last timestamp written and its digits: the values of one poll mostly share theirs. */
  #lastTime = -1;
  readonly #timeDigits = Buffer.alloc(24);
  #timeLen = 0;
  #lastType = '';
  #lastQuality = '';
  #lastTails: Buffer[] = [];

  /**
   * One data/update message for `updates`, in a Buffer of its own (the broker may hold it after this
   * returns). `eventId` and `now` are for tests; a message gets a random UUID and the clock.
   */
  write(updates: readonly ReportedUpdate[], persisted: boolean, eventId?: string, now: number = Date.now()): Buffer {
    // A scratch buffer grown for an outsized message is not kept.
    if (this.#buf.length > 4 * SCRATCH_BYTES) this.#buf = Buffer.allocUnsafeSlow(SCRATCH_BYTES);
    this.#at = 0;
    this.#ensure(128 + (eventId?.length ?? 0) * 3);
    this.#put(HEAD);
    if (eventId === undefined) this.#uuid();
    else this.#text(eventId);
    this.#put(HEAD_TIME);
    this.#number(now);
    this.#put(HEAD_DATA);
    for (let i = 0; i < updates.length; i++) {
      const u = updates[i]!;
      const key = u.dataKey;
      const keyJson = key === undefined ? JSON.stringify(u.property) : undefined;
      // Only a string property's text can need escaping: numbers, booleans and base64 never do.
      const valueJson = u.type === 'string' ? JSON.stringify(u.text ?? '') : undefined;
      const text = valueJson ?? u.text ?? '';
      const errorCode = u.error ? JSON.stringify(u.error.code) : undefined;
      const errorMessage = u.error ? JSON.stringify(u.error.message) : undefined;
      this.#ensure(
        VALUE_OVERHEAD + (key ? key.length : keyJson!.length * 3) + text.length * 3 + u.type.length * 3 + u.quality.length * 3 +
          (errorCode ? (errorCode.length + errorMessage!.length) * 3 : 0),
      );
      if (i > 0) this.#buf[this.#at++] = COMMA;
      if (key) this.#put(key);
      else {
        this.#text(keyJson!);
        this.#put(VALUE);
      }
      if (valueJson !== undefined) {
        this.#text(valueJson);
        this.#put(METADATA);
      } else {
        this.#buf[this.#at++] = QUOTE;
        this.#text(text);
        this.#put(QUOTE_METADATA);
      }
      this.#time(u.time);
      const tail = (persisted ? 0 : 1) + (errorCode === undefined ? 0 : 2);
      const known = this.#tails(u.type, u.quality);
      if (known) this.#put(known[tail]!);
      else this.#text(`,"type":"${u.type}","quality":"${u.quality}"${persisted ? '' : ',"persisted":"false"'}${errorCode === undefined ? '}}' : ''}`);
      if (errorCode !== undefined) {
        this.#put(ERROR_CODE);
        this.#text(errorCode);
        this.#put(ERROR_MESSAGE);
        this.#text(errorMessage!);
        this.#put(ERROR_CLOSE);
      }
    }
    this.#ensure(2);
    this.#buf[this.#at++] = CLOSE;
    this.#buf[this.#at++] = CLOSE;
    const out = Buffer.allocUnsafe(this.#at);
    this.#buf.copy(out, 0, 0, this.#at);
    return out;
  }

  /** Room for `n` more bytes: else the scratch buffer grows, keeping the message so far. */
  #ensure(n: number): void {
    if (this.#at + n <= this.#buf.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(SCRATCH_BYTES, (this.#at + n) * 2));
    this.#buf.copy(grown, 0, 0, this.#at);
    this.#buf = grown;
  }

  /** A run of bytes: a loop beats a native copy below ~12 bytes, the copy wins above (measured on Node 20). */
  #put(bytes: Uint8Array): void {
    const buf = this.#buf;
    let at = this.#at;
    if (bytes.length >= 12) {
      buf.set(bytes, at);
      this.#at = at + bytes.length;
      return;
    }
    for (let i = 0; i < bytes.length; i++) buf[at++] = bytes[i]!;
    this.#at = at;
  }

  /** The tails of a known type and quality; the values of one message mostly share the pair, so the last one is kept at hand. */
  #tails(type: string, quality: string): Buffer[] | undefined {
    if (type === this.#lastType && quality === this.#lastQuality) return this.#lastTails;
    const known = TAILS.get(type)?.get(quality);
    if (!known) return undefined;
    this.#lastType = type;
    this.#lastQuality = quality;
    this.#lastTails = known;
    return known;
  }

  /** A random (version 4) UUID in its 36-character form, without a string on the way. */
  #uuid(): void {
    if (randomAt + 16 > RANDOM.length) {
      randomFillSync(RANDOM);
      randomAt = 0;
    }
    const buf = this.#buf;
    let at = this.#at;
    for (let i = 0; i < 16; i++) {
      let b = RANDOM[randomAt + i]!;
      if (i === 6) b = (b & 0x0f) | 0x40;
      else if (i === 8) b = (b & 0x3f) | 0x80;
      buf[at++] = HEX[b >> 4]!;
      buf[at++] = HEX[b & 15]!;
      if (i === 3 || i === 5 || i === 7 || i === 9) buf[at++] = 45; // '-'
    }
    randomAt += 16;
    this.#at = at;
  }

  /** A string as UTF-8: byte by byte while it is ASCII (every number and base64 text), natively otherwise. */
  #text(s: string): void {
    const buf = this.#buf;
    const start = this.#at;
    let at = start;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        this.#at = start + buf.write(s, start, 'utf8');
        return;
      }
      buf[at++] = c;
    }
    this.#at = at;
  }

  /** A reading's timestamp as JSON writes it, reusing the last one's digits when it repeats. */
  #time(t: number): void {
    if (t !== this.#lastTime) {
      const digits = this.#timeDigits;
      const len = Number.isSafeInteger(t) && t >= 0 ? writeDigits(digits, t) : -1;
      if (len < 0) {
        // Not a plain millisecond count (a client's own timestamp): as String() writes it, uncached.
        this.#text(String(t));
        return;
      }
      this.#lastTime = t;
      this.#timeLen = len;
    }
    const buf = this.#buf;
    const digits = this.#timeDigits;
    let at = this.#at;
    for (let i = 0; i < this.#timeLen; i++) buf[at++] = digits[i]!;
    this.#at = at;
  }

  #number(n: number): void {
    if (Number.isSafeInteger(n) && n >= 0) this.#at += writeDigits(this.#buf, n, this.#at);
    else this.#text(String(n));
  }
}

/** The decimal digits of a non-negative safe integer at `at`; returns how many. */
function writeDigits(into: Uint8Array, n: number, at = 0): number {
  let len = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) len++;
  for (let i = at + len - 1, x = n; i >= at; i--) {
    const q = Math.floor(x / 10);
    into[i] = 48 + (x - q * 10);
    x = q;
  }
  return len;
}
