// Cuts the byte stream of a port into frames: by delimiter, fixed length, a length field, start/end
// markers with an escape byte, or silence. A frame that fails its checksum is counted and dropped,
// and the reader resynchronises on the next frame instead of staying misaligned. Frames are handed
// on without their checksum bytes, so patterns and extraction see only the message.

import { specBytes, type ByteSpec } from './bytes.ts';
import { ChecksumRule, type ChecksumConfig } from './checksum.ts';

export type FramingConfig =
  | { type: 'delimiter'; delimiter?: ByteSpec; maxLength?: number }
  | { type: 'fixed'; length: number; start?: ByteSpec }
  | {
    type: 'length'; start?: ByteSpec; lengthOffset: number; lengthSize?: 1 | 2; lengthOrder?: 'big' | 'little';
    /** What the length field counts: the whole frame, or the bytes after the field; lengthAdjust adds bytes it leaves out. */
    lengthCounts?: 'all' | 'following'; lengthAdjust?: number; maxLength?: number;
  }
  | { type: 'markers'; start: ByteSpec; end: ByteSpec; escape?: ByteSpec; escapeXor?: number; maxLength?: number }
  | { type: 'silence'; silenceMs: number; maxLength?: number };

export interface FrameStats {
  frames: number;
  /** Frames dropped for a bad checksum or shape; a run of garbage counts once. */
  bad: number;
  droppedBytes: number;
  lastError?: string;
}

/**
 * One frame as the reader cut it, checksum removed. Its bytes and its latin1 text are made when
 * first asked for: a streamed text frame is matched by its text and its bytes are rarely needed,
 * and cutting a Buffer costs more than the rest of a small frame's trip.
 */
export class Frame {
  readonly #source: Buffer;
  readonly #start: number;
  readonly #end: number;
  /** latin1 text of the whole source, when the reader decoded it once for many frames. */
  readonly #sourceText?: string;
  #bytes?: Uint8Array;
  #text?: string;

  constructor(source: Uint8Array, start = 0, end = source.length, sourceText?: string) {
    this.#source = Buffer.isBuffer(source) ? source : Buffer.from(source.buffer, source.byteOffset, source.byteLength);
    this.#start = start;
    this.#end = end;
    this.#sourceText = sourceText;
  }

  get length(): number {
    return this.#end - this.#start;
  }

  get bytes(): Uint8Array {
    return (this.#bytes ??= this.#source.subarray(this.#start, this.#end));
  }

  /** The bytes as latin1 (one character per byte), as patterns match them. */
  get text(): string {
    return (this.#text ??= this.#sourceText !== undefined ? this.#sourceText.slice(this.#start, this.#end) : this.#source.toString('latin1', this.#start, this.#end));
  }
}

export interface FrameHandlers {
  frame(frame: Frame): void;
  bad?(reason: string): void;
  /** The frames of one chunk (or one silence) have all been handed on: a place to act on them together. */
  flush?(): void;
}

const DEFAULT_MAX = 4096;

export class FrameReader {
  readonly stats: FrameStats = { frames: 0, bad: 0, droppedBytes: 0 };
  readonly #framing: FramingConfig;
  readonly #checksum?: ChecksumRule;
  readonly #on: FrameHandlers;
  readonly #delimiter?: Buffer;
  readonly #start?: Buffer;
  readonly #end?: Buffer;
  readonly #escape?: number;
  readonly #max: number;
  #buf: Buffer = Buffer.alloc(0);
  #hunting = false;
  #silence?: ReturnType<typeof setTimeout>;

  constructor(framing: FramingConfig, checksum: ChecksumConfig | undefined, on: FrameHandlers) {
    this.#framing = framing;
    this.#checksum = checksum === undefined || checksum.type === 'none' ? undefined : new ChecksumRule(checksum);
    this.#on = on;
    this.#max = ('maxLength' in framing ? framing.maxLength : undefined) ?? DEFAULT_MAX;
    if (framing.type === 'delimiter') this.#delimiter = Buffer.from(specBytes(framing.delimiter ?? '\n'));
    if ((framing.type === 'fixed' || framing.type === 'length') && framing.start !== undefined) this.#start = Buffer.from(specBytes(framing.start));
    if (framing.type === 'markers') {
      this.#start = Buffer.from(specBytes(framing.start));
      this.#end = Buffer.from(specBytes(framing.end));
      if (framing.escape !== undefined) this.#escape = specBytes(framing.escape)[0];
    }
  }

  /** Bytes of a frame begun but not finished. */
  get pending(): number {
    return this.#buf.length;
  }

  push(chunk: Uint8Array): void {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : Buffer.from(chunk);
    switch (this.#framing.type) {
      case 'delimiter': this.#byDelimiter(); break;
      case 'fixed': this.#byLength(() => (this.#framing as { length: number }).length); break;
      case 'length': this.#byLength((b) => this.#lengthOf(b)); break;
      case 'markers': this.#byMarkers(); break;
      case 'silence': this.#bySilence(); return;
    }
    this.#on.flush?.();
  }

  /** Forget a frame begun but not finished (before a request: it cannot be the answer). */
  discardPending(): void {
    if (this.#buf.length) this.#reject(`${this.#buf.length} bytes of an unfinished frame discarded before a request`, this.#buf.length);
    this.#buf = Buffer.alloc(0);
  }

  close(): void {
    if (this.#silence) clearTimeout(this.#silence);
    this.#silence = undefined;
    this.#buf = Buffer.alloc(0);
  }

  #emit(frame: Uint8Array): boolean {
    return this.#emitRange(frame, 0, frame.length);
  }

  /**
   * The frame bytes[start, end): checked and handed on without cutting it out first. `text` is the
   * latin1 of all of `bytes`, when the caller decoded it once for many frames.
   */
  #emitRange(bytes: Uint8Array, start: number, end: number, text?: string): boolean {
    const c = this.#checksum;
    const problem = c ? c.verify(bytes, start, end) : undefined;
    if (problem) {
      this.#reject(problem, 0);
      return false;
    }
    this.#hunting = false;
    this.stats.frames++;
    this.#on.frame(c ? withoutChecksum(c, bytes, start, end, text) : new Frame(bytes, start, end, text));
    return true;
  }

  #reject(reason: string, dropped: number): void {
    this.stats.droppedBytes += dropped;
    this.stats.lastError = reason;
    if (this.#hunting) return;
    this.stats.bad++;
    this.#on.bad?.(reason);
  }

  #byDelimiter(): void {
    const d = this.#delimiter!;
    let from = 0;
    const buf = this.#buf;
    // Decoded once for every frame in the buffer (each frame's text is then a slice of it).
    let text: string | undefined;
    for (let i = nextDelimiter(buf, d, from); i >= 0; i = nextDelimiter(buf, d, from)) {
      const start = from;
      from = i + d.length;
      if (i === start) continue;
      text ??= buf.toString('latin1');
      if (!this.#emitRange(buf, start, i, text)) this.stats.droppedBytes += i - start + d.length;
    }
    this.#buf = this.#buf.subarray(from);
    if (this.#buf.length > this.#max) {
      this.#reject(`no delimiter within ${this.#max} bytes`, this.#buf.length);
      this.#buf = Buffer.alloc(0);
    }
  }

  /** Fixed and length-field frames: align on the start bytes, and slide one byte past a bad frame. */
  #byLength(lengthOf: (b: Buffer) => number | undefined | 'bad'): void {
    for (;;) {
      if (this.#start && !this.#alignStart()) return;
      const total = lengthOf(this.#buf);
      if (total === undefined) return;
      if (total === 'bad' || total > this.#max || total < 1) {
        this.#reject(total === 'bad' ? 'length field out of range' : `frame length ${String(total)} out of range`, 0);
        this.#slide();
        continue;
      }
      if (this.#buf.length < total) return;
      const frame = this.#buf.subarray(0, total);
      if (this.#emit(frame)) this.#buf = this.#buf.subarray(total);
      else {
        this.#hunting = true;
        this.#slide();
      }
    }
  }

  #slide(): void {
    this.#hunting = true;
    this.stats.droppedBytes++;
    this.#buf = this.#buf.subarray(1);
  }

  /** Drop bytes before the start sequence; false when none is buffered yet. */
  #alignStart(): boolean {
    const i = this.#buf.indexOf(this.#start!);
    if (i === 0) return true;
    const keep = i > 0 ? i : Math.max(0, this.#buf.length - this.#start!.length + 1);
    if (keep > 0) {
      this.#reject('bytes before the start of a frame', keep);
      this.#hunting = true;
      this.#buf = this.#buf.subarray(keep);
    }
    return i > 0;
  }

  #lengthOf(b: Buffer): number | undefined | 'bad' {
    const f = this.#framing as Extract<FramingConfig, { type: 'length' }>;
    const size = f.lengthSize ?? 1;
    if (b.length < f.lengthOffset + size) return undefined;
    const n = size === 1 ? b[f.lengthOffset]! : (f.lengthOrder ?? 'big') === 'big' ? b.readUInt16BE(f.lengthOffset) : b.readUInt16LE(f.lengthOffset);
    const counted = (f.lengthCounts ?? 'following') === 'all' ? n : f.lengthOffset + size + n;
    return counted + (f.lengthAdjust ?? 0);
  }

  #byMarkers(): void {
    const start = this.#start!;
    const end = this.#end!;
    for (;;) {
      const s = this.#buf.indexOf(start);
      if (s < 0) {
        const keep = Math.min(this.#buf.length, start.length - 1);
        if (this.#buf.length > keep) this.#reject('bytes outside start/end markers', this.#buf.length - keep);
        this.#buf = this.#buf.subarray(this.#buf.length - keep);
        return;
      }
      if (s > 0) {
        this.#reject('bytes outside start/end markers', s);
        this.#buf = this.#buf.subarray(s);
      }
      const body = this.#unescapeUntilEnd(start.length, end);
      if (body === undefined) {
        if (this.#buf.length > this.#max) {
          this.#reject(`no end marker within ${this.#max} bytes`, this.#buf.length);
          this.#buf = Buffer.alloc(0);
        }
        return;
      }
      if (body.restart !== undefined) {
        this.#reject('a new start marker before the end marker', body.restart);
        this.#buf = this.#buf.subarray(body.restart);
        continue;
      }
      this.#buf = this.#buf.subarray(body.next);
      if (!this.#emit(body.frame)) this.stats.droppedBytes += body.next;
    }
  }

  /** The unescaped payload after the start marker, and where the next frame begins. */
  #unescapeUntilEnd(from: number, end: Buffer): { frame: Uint8Array; next: number; restart?: undefined } | { restart: number } | undefined {
    const out: number[] = [];
    const xor = (this.#framing as { escapeXor?: number }).escapeXor ?? 0;
    for (let i = from; i < this.#buf.length; i++) {
      const b = this.#buf[i]!;
      if (this.#escape !== undefined && b === this.#escape) {
        if (i + 1 >= this.#buf.length) return undefined;
        out.push(this.#buf[++i]! ^ xor);
        continue;
      }
      if (this.#buf.subarray(i, i + end.length).equals(end)) return { frame: Uint8Array.from(out), next: i + end.length };
      if (i + end.length > this.#buf.length && end.subarray(0, this.#buf.length - i).equals(this.#buf.subarray(i))) return undefined;
      if (this.#buf.subarray(i, i + this.#start!.length).equals(this.#start!) && !end.equals(this.#start!)) return { restart: i };
      out.push(b);
    }
    return undefined;
  }

  #bySilence(): void {
    if (this.#silence) clearTimeout(this.#silence);
    if (this.#buf.length > this.#max) {
      this.#reject(`no silence within ${this.#max} bytes`, this.#buf.length);
      this.#buf = Buffer.alloc(0);
    }
    const ms = (this.#framing as { silenceMs: number }).silenceMs;
    this.#silence = setTimeout(() => {
      this.#silence = undefined;
      const frame = this.#buf;
      this.#buf = Buffer.alloc(0);
      if (frame.length && !this.#emit(frame)) this.stats.droppedBytes += frame.length;
      this.#on.flush?.();
    }, ms);
  }
}

/**
 * Where the delimiter next starts at or after `from`, or -1. A one-byte delimiter (the usual \n)
 * is looked for in a loop here: for frames of a few dozen bytes that beats a call into indexOf.
 */
function nextDelimiter(buf: Buffer, d: Buffer, from: number): number {
  if (d.length !== 1) return buf.indexOf(d, from);
  const byte = d[0]!;
  for (let i = from; i < buf.length; i++) if (buf[i] === byte) return i;
  return -1;
}

/** What patterns and extraction see: the frame with its checksum bytes taken out. */
function withoutChecksum(c: ChecksumRule, bytes: Uint8Array, start: number, end: number, text?: string): Frame {
  const width = c.width;
  const at = start + c.at(end - start);
  if (at + width === end) return new Frame(bytes, start, at, text);
  return new Frame(Buffer.concat([bytes.subarray(start, at), bytes.subarray(at + width, end)]));
}

/** The bytes to send for a command frame under this framing. */
export function frameOut(framing: FramingConfig, payload: Uint8Array): Uint8Array {
  if (framing.type === 'delimiter') return Buffer.concat([payload, specBytes(framing.delimiter ?? '\n')]);
  if (framing.type !== 'markers') return payload;
  const start = specBytes(framing.start);
  const end = specBytes(framing.end);
  if (framing.escape === undefined) return Buffer.concat([start, payload, end]);
  const esc = specBytes(framing.escape)[0]!;
  const xor = framing.escapeXor ?? 0;
  const special = new Set([esc, start[0]!, end[0]!]);
  const out: number[] = [...start];
  for (const b of payload) {
    if (special.has(b)) out.push(esc, b ^ xor);
    else out.push(b);
  }
  out.push(...end);
  return Uint8Array.from(out);
}
