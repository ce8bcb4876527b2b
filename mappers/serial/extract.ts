// Pulls one property's value out of a frame: a regex capture group, a byte slice the SDK codec
// decodes, or a JSON path into a JSON answer.

import type { CodecSpec, CodecType, ByteOrder } from '../sdk/index.ts';
import type { Frame } from './framer.ts';

export type ExtractConfig =
  | { regex: string; group?: number }
  | { bytes: { offset: number; type: CodecType; length?: number; order?: ByteOrder; bitIndex?: number } }
  | { jsonPath: string };

/** What came out: text or a typed value for the runtime to coerce, raw bytes for the codec, or why nothing did. */
export type Extracted = { value: string | number | boolean } | { raw: Uint8Array } | { error: string };

/** The codec a bytes extract decodes with (scale and valueOffset come from the visitor). */
export function extractCodec(e: ExtractConfig | undefined, scale?: { scale?: number; valueOffset?: number }): CodecSpec | undefined {
  if (!e || !('bytes' in e)) return undefined;
  const { type, length, order, bitIndex } = e.bytes;
  return { type, length, order, bitIndex, scale: scale?.scale, valueOffset: scale?.valueOffset };
}

/** Segments of a JSON path: `$.a.b[0]['c d']`; undefined when it does not parse. */
export function parseJsonPath(path: string): (string | number)[] | undefined {
  if (!path.startsWith('$')) return undefined;
  const out: (string | number)[] = [];
  const re = /\.([A-Za-z_$][\w$-]*)|\[(\d+)\]|\['([^']*)'\]|\["([^"]*)"\]/y;
  re.lastIndex = 1;
  while (re.lastIndex < path.length) {
    const m = re.exec(path);
    if (!m) return undefined;
    out.push(m[2] !== undefined ? Number(m[2]) : (m[1] ?? m[3] ?? m[4])!);
  }
  return out;
}

/**
 * `re` is the property's compiled extract regex; `gate` the match of `gateRe`, the pattern that
 * picked this frame (match or stream): its group 1 is the value when the property has no extract
 * of its own, and it is reused when `gateRe` is `re`.
 */
export function extract(e: ExtractConfig | undefined, frame: Frame, re?: RegExp, gate?: RegExpExecArray | null, gateRe?: RegExp): Extracted {
  if (!e) {
    // A pattern without a capture group takes the whole frame.
    if (gate && gate.length > 1) return capture(gate, 1, gateRe?.source ?? '', frame);
    return { value: Buffer.from(frame.bytes).toString('utf8') };
  }
  if ('regex' in e) {
    const regex = re ?? new RegExp(e.regex, 's');
    const m = gate && gateRe === regex ? gate : regex.exec(frame.text);
    if (!m) return { error: `the answer ${preview(frame.bytes)} does not match /${regex.source}/` };
    return capture(m, e.group ?? 1, regex.source, frame);
  }
  if ('bytes' in e) {
    const { offset, type, length } = e.bytes;
    const bytes = frame.bytes;
    const start = offset < 0 ? bytes.length + offset : offset;
    const width = length ?? ({ int8: 1, uint8: 1, int16: 2, uint16: 2, int32: 4, uint32: 4, int64: 8, uint64: 8, float32: 4, float64: 8 } as Partial<Record<CodecType, number>>)[type];
    const end = width === undefined ? bytes.length : start + width;
    if (start < 0 || end > bytes.length) return { error: `the frame has ${bytes.length} bytes; bytes ${start}..${end - 1} are not all there` };
    return { raw: Uint8Array.from(bytes.subarray(start, end)) };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(frame.bytes).toString('utf8'));
  } catch {
    return { error: `the answer is not JSON: ${preview(frame.bytes)}` };
  }
  for (const seg of parseJsonPath(e.jsonPath) ?? []) {
    if (doc === null || typeof doc !== 'object' || !(seg in doc)) return { error: `${e.jsonPath} is not in the answer ${preview(frame.bytes)}` };
    doc = (doc as Record<string | number, unknown>)[seg];
  }
  if (typeof doc === 'string' || typeof doc === 'number' || typeof doc === 'boolean') return { value: doc };
  return { error: `${e.jsonPath} is ${doc === null ? 'null' : typeof doc}, not a value` };
}

function capture(m: RegExpExecArray, group: number, source: string, frame: Frame): Extracted {
  const g = m[group];
  if (g === undefined) return { error: `group ${group} of /${source}/ captured nothing in ${preview(frame.bytes)}` };
  // Frames are matched as latin1; text values are UTF-8.
  for (let i = 0; i < g.length; i++) if (g.charCodeAt(i) > 0x7f) return { value: Buffer.from(g, 'latin1').toString('utf8') };
  return { value: g };
}

/** A frame as a user can read it in a message: text when printable, hex otherwise, cut short. */
export function preview(frame: Uint8Array): string {
  const cut = frame.subarray(0, 48);
  const more = frame.length > cut.length ? '…' : '';
  const printable = cut.every((b) => (b >= 0x20 && b < 0x7f) || b === 9);
  return printable ? `"${Buffer.from(cut).toString('latin1')}${more}"` : `<${Buffer.from(cut).toString('hex').replace(/(..)(?!$)/g, '$1 ')}${more}>`;
}
